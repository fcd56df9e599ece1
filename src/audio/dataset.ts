/**
 * What is in a recordings folder (predata/ by default): every WAV under it and its
 * length, read from the header only, so `kws maxlen` over thousands of clips is fast.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { errorMessage, inputError, isUserError } from '../util/errors';
import { listWavFiles } from '../util/fsutil';
import { fileReadError, parseWavLayoutFd } from './wav';

export interface ClipLength {
  file: string;
  /** Length in samples at `targetRate` (what loadClip would return). */
  samples: number;
  sampleRate: number;
}

export interface ScanResult {
  clips: ClipLength[];
  /** Files that could not be read, with the reason. */
  problems: { file: string; problem: string }[];
}

/** Length of one WAV from its header, converted to `targetRate` samples. */
export function wavLength(file: string, targetRate = 16000): ClipLength {
  let fd: number;
  try {
    fd = fs.openSync(file, 'r');
  } catch (err) {
    throw fileReadError(file, err);
  }
  try {
    const size = fs.fstatSync(fd).size;
    const lay = parseWavLayoutFd(fd, size, file);
    const frames = lay.dataBytes / lay.blockAlign;
    const samples = lay.sampleRate === targetRate ? frames : Math.ceil((frames * targetRate) / lay.sampleRate - 1e-9);
    return { file, samples, sampleRate: lay.sampleRate };
  } finally {
    fs.closeSync(fd);
  }
}

export async function scanClips(dir: string, targetRate = 16000): Promise<ScanResult> {
  let st: fs.Stats;
  try {
    st = fs.statSync(dir);
  } catch {
    throw inputError(`${dir}: no such folder`, 'Record some clips first (`kws record LABEL`), or point --dir at your recordings.');
  }
  if (!st.isDirectory()) throw inputError(`${dir}: is a file, not a folder`);
  const files = await listWavFiles(dir);
  const result: ScanResult = { clips: [], problems: [] };
  for (const file of files) {
    try {
      result.clips.push(wavLength(file, targetRate));
    } catch (err) {
      if (!isUserError(err)) throw err;
      result.problems.push({ file, problem: errorMessage(err).replace(`${file}: `, '') });
    }
  }
  return result;
}

export interface LengthSummary {
  longest: ClipLength;
  medianSamples: number;
  /** Clips longer than `factor` x the median of the other clips, longest first. */
  outliers: ClipLength[];
}

/**
 * Each clip is compared with the median of the OTHER clips, not of all of them: with
 * two clips the overall median is their mean, which no clip can exceed twice, so a
 * stray 10-s file beside one 1-s clip would never be named.
 */
export function summarizeLengths(clips: ClipLength[], factor = 2): LengthSummary {
  if (clips.length === 0) throw new Error('summarizeLengths: no clips');
  const sorted = [...clips].sort((a, b) => a.samples - b.samples || a.file.localeCompare(b.file));
  const len = (i: number): number => (sorted[i] as ClipLength).samples;
  const n = sorted.length;
  const mid = n >> 1;
  const medianSamples = n % 2 ? len(mid) : (len(mid - 1) + len(mid)) / 2;
  let longest = sorted[0] as ClipLength;
  for (const c of sorted) if (c.samples > longest.samples) longest = c;
  // The median of the n-1 others of sorted[i], read from the sorted array without copying.
  const otherAt = (i: number, k: number): number => len(k < i ? k : k + 1);
  const medianOfOthers = (i: number): number => {
    const m = n - 1;
    return m % 2 ? otherAt(i, m >> 1) : (otherAt(i, m / 2 - 1) + otherAt(i, m / 2)) / 2;
  };
  const outliers = n < 2 ? [] : sorted.filter((c, i) => c.samples > factor * medianOfOthers(i)).sort((a, b) => b.samples - a.samples);
  return { longest, medianSamples, outliers };
}

/** Relative path for display, when it is shorter. */
export function displayPath(p: string): string {
  const rel = path.relative(process.cwd(), p);
  return rel && !rel.startsWith('..') && rel.length < p.length ? rel : p;
}
