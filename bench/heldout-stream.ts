/**
 * A long labelled test stream made only from voices a model never heard.
 *
 * The shipped stream-example is 60 s with 12 keywords, and its voices are among the training
 * voices: too little, and too familiar, to tune a detector on. This builds a stream of the
 * same kind (words at least 1.5 s apart on a continuous noise bed) from the validation side
 * of the model's own speaker-disjoint split, so recall and false hits per minute measured on it
 * say what a new speaker would see. The manifest's offset_ms/dur_ms locate each word in its clip;
 * each word is scaled to a random 5-30 dB over the local background, its peak within -30..-3 dBFS,
 * as the shared streams were made (their README).
 *
 *   node dist/bench/heldout-stream.js --model assets/demo/model --out /tmp/heldout.wav
 *
 * writes /tmp/heldout.wav and /tmp/heldout.labels.json (the format `kws score` reads).
 */
import { promises as fsp } from 'node:fs';
import * as path from 'node:path';
import { loadClip, encodeWav, floatToInt16 } from '../src/audio/wav';
import { parseCsvLine, scanDataset } from '../src/model/dataset';
import { splitClips } from '../src/model/split';
import { readModelMetadata } from '../src/model/store';
import { createRng, shuffleInPlace } from '../src/util/rng';

export interface HeldoutStreamOptions {
  dataDir: string;
  modelDir: string;
  outWav: string;
  seed?: number;
  /** Seconds of silence-free gap between words, at least (the shared streams use 1.5). */
  minGap?: number;
  /** Keep at most this many words (all validation words by default). */
  maxWords?: number;
}

export interface HeldoutStream {
  wav: string;
  labels: string;
  seconds: number;
  words: number;
  keywords: number;
  voices: number;
}

interface WordClip {
  relPath: string;
  label: string;
  offsetS: number;
  durS: number;
}

const RATE = 16000;
const MARGIN_S = 0.08;
const FADE_S = 0.02;

async function readManifestWords(dataDir: string): Promise<Map<string, { offsetS: number; durS: number }>> {
  const text = await fsp.readFile(path.join(dataDir, 'manifest.csv'), 'utf8');
  const lines = text.split(/\r?\n/).filter((l) => l.trim() !== '');
  const header = parseCsvLine(lines[0] ?? '');
  const col = (name: string): number => {
    const i = header.indexOf(name);
    if (i < 0) throw new Error(`${dataDir}/manifest.csv has no "${name}" column`);
    return i;
  };
  const [fileCol, offCol, durCol] = [col('file'), col('offset_ms'), col('dur_ms')];
  const out = new Map<string, { offsetS: number; durS: number }>();
  for (const line of lines.slice(1)) {
    const cells = parseCsvLine(line);
    const off = Number(cells[offCol]);
    const dur = Number(cells[durCol]);
    if (Number.isFinite(off) && Number.isFinite(dur) && dur > 0) out.set(cells[fileCol] ?? '', { offsetS: off / 1000, durS: dur / 1000 });
  }
  return out;
}

function fadeInOut(x: Float32Array, fade: number): void {
  for (let i = 0; i < fade && i < x.length; i++) {
    const g = i / fade;
    x[i] = (x[i] as number) * g;
    x[x.length - 1 - i] = (x[x.length - 1 - i] as number) * g;
  }
}

export async function makeHeldoutStream(opts: HeldoutStreamOptions): Promise<HeldoutStream> {
  const { meta } = await readModelMetadata(opts.modelDir);
  const t = meta.training;
  if (t.splitBy !== 'group' || !(t.valSplit > 0)) {
    throw new Error(`${opts.modelDir} was not trained with a speaker-disjoint split (--split-by voice); its validation voices are unknown`);
  }
  const ds = await scanDataset(opts.dataDir);
  const split = splitClips(ds.clips, { valFraction: t.valSplit, by: 'voice', seed: t.seed });
  const positions = await readManifestWords(opts.dataDir);
  const rng = createRng(opts.seed ?? 7);

  const words: WordClip[] = [];
  const background: string[] = [];
  const voices = new Set<string>();
  for (const i of split.val) {
    const c = ds.clips[i];
    if (!c) continue;
    if (c.label === '_background_') {
      background.push(c.path);
      continue;
    }
    const pos = positions.get(c.relPath);
    if (!pos) continue;
    words.push({ relPath: c.path, label: c.label, offsetS: pos.offsetS, durS: pos.durS });
    if (c.group) voices.add(c.group);
  }
  if (words.length === 0 || background.length === 0) throw new Error(`no validation words or background clips found in ${opts.dataDir}`);
  shuffleInPlace(words, rng);
  const chosen = opts.maxWords !== undefined ? words.slice(0, opts.maxWords) : words;

  // Word placement first, so the bed can be made exactly long enough.
  const minGap = opts.minGap ?? 1.5;
  const placed: { clip: WordClip; at: number }[] = [];
  let cursor = 1.0;
  for (const w of chosen) {
    const at = cursor + rng.uniform(0, 1.5);
    placed.push({ clip: w, at });
    cursor = at + w.durS + minGap;
  }
  const total = Math.ceil((cursor + 1) * RATE);

  // The bed: background clips end to end, crossfaded so no seam clicks.
  const bed = new Float32Array(total);
  const xfade = Math.round(0.05 * RATE);
  let pos = 0;
  const bgOrder = shuffleInPlace([...background], rng);
  for (let k = 0; pos < total; k++) {
    const clip = await loadClip(bgOrder[k % bgOrder.length] as string, RATE);
    for (let i = 0; i < clip.length && pos + i < total; i++) {
      const g = i < xfade ? i / xfade : 1;
      bed[pos + i] = (bed[pos + i] as number) + g * (clip[i] as number);
    }
    pos += Math.max(1, clip.length - xfade);
  }

  const labels: { label: string; start_s: number; end_s: number; word_clip: string; snr_db: number }[] = [];
  for (const { clip, at } of placed) {
    const audio = await loadClip(clip.relPath, RATE);
    const from = Math.max(0, Math.round((clip.offsetS - MARGIN_S) * RATE));
    const to = Math.min(audio.length, Math.round((clip.offsetS + clip.durS + MARGIN_S) * RATE));
    const piece = audio.slice(from, to);
    fadeInOut(piece, Math.round(FADE_S * RATE));
    const start = Math.round((at - (clip.offsetS - from / RATE)) * RATE);
    // As the shared streams were made: the word at a random 5-30 dB over the local background,
    // its peak kept between -30 and -3 dBFS.
    const wordFrom = Math.round((clip.offsetS - from / RATE) * RATE);
    const wordTo = Math.min(piece.length, wordFrom + Math.round(clip.durS * RATE));
    const wordRms = rmsOf(piece, wordFrom, wordTo);
    const bedRms = rmsOf(bed, start + wordFrom, start + wordTo);
    const snr = rng.uniform(5, 30);
    let gain = wordRms > 0 ? (Math.max(bedRms, 1e-5) * Math.pow(10, snr / 20)) / wordRms : 1;
    const peak = peakOf(piece) * gain;
    if (peak > 0) gain *= Math.min(1, Math.pow(10, -3 / 20) / peak) * Math.max(1, Math.pow(10, -30 / 20) / peak);
    for (let i = 0; i < piece.length && start + i < total; i++) bed[start + i] = (bed[start + i] as number) + gain * (piece[i] as number);
    const actualSnr = 20 * Math.log10((gain * wordRms) / Math.max(bedRms, 1e-9));
    labels.push({ label: clip.label, start_s: round3(at), end_s: round3(at + clip.durS), word_clip: path.relative(opts.dataDir, clip.relPath), snr_db: Math.round(actualSnr * 10) / 10 });
  }
  for (let i = 0; i < bed.length; i++) bed[i] = Math.max(-1, Math.min(1, bed[i] as number));

  await fsp.mkdir(path.dirname(path.resolve(opts.outWav)), { recursive: true });
  await fsp.writeFile(opts.outWav, encodeWav(floatToInt16(bed), RATE));
  const labelsFile = opts.outWav.replace(/\.wav$/i, '') + '.labels.json';
  await fsp.writeFile(labelsFile, `${JSON.stringify(labels, null, 1)}\n`);
  return {
    wav: opts.outWav,
    labels: labelsFile,
    seconds: total / RATE,
    words: labels.length,
    keywords: labels.filter((l) => !l.label.startsWith('_')).length,
    voices: voices.size,
  };
}

function rmsOf(x: Float32Array, from: number, to: number): number {
  let sum = 0;
  const a = Math.max(0, from);
  const b = Math.min(x.length, to);
  for (let i = a; i < b; i++) sum += (x[i] as number) * (x[i] as number);
  return b > a ? Math.sqrt(sum / (b - a)) : 0;
}

function peakOf(x: Float32Array): number {
  let p = 0;
  for (let i = 0; i < x.length; i++) p = Math.max(p, Math.abs(x[i] as number));
  return p;
}

function round3(x: number): number {
  return Math.round(x * 1000) / 1000;
}

if (require.main === module) {
  const args = process.argv.slice(2);
  const get = (flag: string): string | undefined => {
    const i = args.indexOf(flag);
    return i >= 0 ? args[i + 1] : undefined;
  };
  const repo = path.resolve(__dirname, '..', '..');
  makeHeldoutStream({
    dataDir: get('--data') ?? path.join(repo, '..', 'shared', 'datasets', 'keywords-train'),
    modelDir: get('--model') ?? path.join(repo, 'assets', 'demo', 'model'),
    outWav: get('--out') ?? 'heldout.wav',
    seed: get('--seed') !== undefined ? Number(get('--seed')) : undefined,
    maxWords: get('--max-words') !== undefined ? Number(get('--max-words')) : undefined,
  })
    .then((r) => process.stdout.write(`${JSON.stringify(r)}\n`))
    .catch((err: unknown) => {
      process.stderr.write(`heldout-stream: ${err instanceof Error ? err.message : String(err)}\n`);
      process.exit(1);
    });
}
