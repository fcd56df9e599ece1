/**
 * The training data on disk: `DATA/LABEL/*.wav`, one sub-folder per label.
 * Scanning is cheap (no audio is decoded) so bad layouts fail in a second with a
 * message that names the folder, before any feature work starts.
 *
 * Owner: training.
 */
import { promises as fsp } from 'node:fs';
import * as path from 'node:path';
import { createHash } from 'node:crypto';
import { inputError } from '../util/errors';
import { isDirectory, listSubfolders, listWavFiles, pathExists } from '../util/fsutil';

export interface ClipRef {
  /** Absolute path. */
  path: string;
  /** Path relative to the data folder, with forward slashes (stable across machines). */
  relPath: string;
  label: string;
  labelIndex: number;
  size: number;
  mtimeMs: number;
  /**
   * Speaker / voice group for a speaker-disjoint split, or null when unknown
   * (such a clip is then a group of its own).
   */
  group: string | null;
}

export interface Dataset {
  root: string;
  /** Sorted label names: the model's output order. */
  labels: string[];
  clips: ClipRef[];
  /** Where the groups came from: the manifest, file names, or nowhere. */
  groupSource: 'manifest' | 'filename' | 'none';
  /** Hash over the sorted (relative path, size, mtime) of every clip. */
  fingerprint: string;
}

/** The file (at the data folder's top) that may name each clip's speaker. */
export const MANIFEST_FILE = 'manifest.csv';

/**
 * Labels are the sorted visible sub-folders of `dataDir`. Sorting by code unit
 * (not locale) makes the output order the same on every machine, and equals
 * Python's sorted(), which the notebooks used.
 */
export async function listLabels(dataDir: string): Promise<string[]> {
  return listSubfolders(dataDir);
}

/**
 * The speaker of a clip from its file name, for data without a manifest:
 * `SPEAKER__anything.wav` (double underscore) or the Speech Commands style
 * `SPEAKER_nohash_N.wav`. Anything else has no known speaker.
 */
export function groupFromFilename(fileName: string): string | null {
  const base = path.basename(fileName);
  const dbl = base.indexOf('__');
  if (dbl > 0) return base.slice(0, dbl);
  const nohash = base.indexOf('_nohash_');
  if (nohash > 0) return base.slice(0, nohash);
  return null;
}

/** Parse a CSV line with quoted fields ("" escapes a quote). */
export function parseCsvLine(line: string): string[] {
  const out: string[] = [];
  let cur = '';
  let quoted = false;
  for (let i = 0; i < line.length; i++) {
    const ch = line[i];
    if (quoted) {
      if (ch === '"') {
        if (line[i + 1] === '"') {
          cur += '"';
          i++;
        } else quoted = false;
      } else cur += ch;
    } else if (ch === '"') quoted = true;
    else if (ch === ',') {
      out.push(cur);
      cur = '';
    } else cur += ch;
  }
  out.push(cur);
  return out;
}

/**
 * Read `manifest.csv` (columns `file` and `voice`, others ignored) into a map from
 * relative path to voice. Returns null when there is no manifest or no voice column.
 */
export async function readManifestVoices(dataDir: string): Promise<Map<string, string> | null> {
  const file = path.join(dataDir, MANIFEST_FILE);
  if (!(await pathExists(file))) return null;
  const text = await fsp.readFile(file, 'utf8');
  const lines = text.split(/\r?\n/).filter((l) => l.trim() !== '');
  const header = lines[0] === undefined ? [] : parseCsvLine(lines[0]).map((h) => h.trim().toLowerCase());
  const fileCol = header.indexOf('file');
  const voiceCol = header.indexOf('voice');
  if (fileCol < 0 || voiceCol < 0) return null;
  const map = new Map<string, string>();
  for (const line of lines.slice(1)) {
    const cells = parseCsvLine(line);
    const f = cells[fileCol];
    const v = cells[voiceCol];
    if (f !== undefined && v !== undefined && v.trim() !== '') map.set(f.trim().replace(/\\/g, '/'), v.trim());
  }
  return map;
}

export function fingerprintClips(clips: readonly Pick<ClipRef, 'relPath' | 'size' | 'mtimeMs'>[]): string {
  const h = createHash('sha256');
  const sorted = [...clips].sort((a, b) => (a.relPath < b.relPath ? -1 : a.relPath > b.relPath ? 1 : 0));
  for (const c of sorted) h.update(`${c.relPath}\0${c.size}\0${Math.round(c.mtimeMs)}\n`);
  return h.digest('hex').slice(0, 32);
}

/**
 * Scan a data folder. Refuses (with the folder to fix) a missing folder, fewer than
 * two labels, and a label folder without WAV files: each would otherwise surface
 * much later as a meaningless accuracy or a crash inside TensorFlow.js.
 */
export async function scanDataset(dataDir: string, opts: { minLabels?: number } = {}): Promise<Dataset> {
  const root = path.resolve(dataDir);
  if (!(await pathExists(root))) {
    throw inputError(
      `data folder not found: ${dataDir}`,
      'Put clips in DATA/LABEL/*.wav (one sub-folder per label), e.g. with `kws record LABEL` then `kws fixed`, or point --data at your folder.',
    );
  }
  if (!(await isDirectory(root))) throw inputError(`--data must be a folder, but ${dataDir} is a file`);
  const labels = await listLabels(root);
  if (labels.length === 0) {
    throw inputError(`no label folders in ${dataDir}`, 'Make one sub-folder per label (e.g. data/yes/, data/no/) holding its WAV clips.');
  }
  if (labels.length === 1 && (opts.minLabels ?? 2) > 1) {
    throw inputError(
      `only one label (${labels[0]}) in ${dataDir}: a classifier needs at least two`,
      'Add a second sub-folder, e.g. _background_ with recordings of silence/room noise, so the model can say "not this".',
    );
  }
  const voices = await readManifestVoices(root);
  let anyNameGroup = false;
  const clips: ClipRef[] = [];
  for (const [labelIndex, label] of labels.entries()) {
    const files = await listWavFiles(path.join(root, label));
    if (files.length === 0) {
      throw inputError(
        `label folder ${path.join(dataDir, label)} has no .wav files`,
        'Record some clips into it (kws record), or remove the folder if that label is not wanted.',
      );
    }
    for (const file of files) {
      const st = await fsp.stat(file);
      const relPath = path.relative(root, file).split(path.sep).join('/');
      let group: string | null = null;
      if (voices) group = voices.get(relPath) ?? null;
      else {
        group = groupFromFilename(file);
        if (group !== null) anyNameGroup = true;
      }
      clips.push({ path: file, relPath, label, labelIndex, size: st.size, mtimeMs: st.mtimeMs, group });
    }
  }
  return {
    root,
    labels,
    clips,
    groupSource: voices ? 'manifest' : anyNameGroup ? 'filename' : 'none',
    fingerprint: fingerprintClips(clips),
  };
}

export function clipsPerLabel(ds: Pick<Dataset, 'labels' | 'clips'>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const l of ds.labels) out[l] = 0;
  for (const c of ds.clips) out[c.label] = (out[c.label] ?? 0) + 1;
  return out;
}
