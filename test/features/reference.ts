/**
 * The librosa reference features copied from shared/reference/features into
 * test/fixtures/reference-features (layout in its index.json), so the parity test
 * runs from the repository alone.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fixturesDir } from '../helpers';
import { parseNpy } from '../../src/features/npy';

export const referenceDir = path.join(fixturesDir, 'reference-features');

export interface ReferenceSignal {
  name: string;
  samples: Float32Array;
  frames: number;
  /** [row][frame] arrays as flat row-major Float64Array. */
  features: Record<'reflect' | 'constant', { mfcc: Float64Array; logmel: Float64Array }>;
}

export function referenceNames(): string[] {
  const index = JSON.parse(fs.readFileSync(path.join(referenceDir, 'index.json'), 'utf8')) as { signals: { name: string }[] };
  return index.signals.map((s) => s.name);
}

export function loadReference(name: string): ReferenceSignal {
  const raw = fs.readFileSync(path.join(referenceDir, `${name}.s16`));
  const s16 = new Int16Array(raw.buffer.slice(raw.byteOffset, raw.byteOffset + raw.length));
  const samples = new Float32Array(s16.length);
  for (let i = 0; i < s16.length; i++) samples[i] = s16[i] / 32768;
  const arr = parseNpy(fs.readFileSync(path.join(referenceDir, `${name}.npy`)));
  const [pads, rows, frames] = arr.shape;
  if (pads !== 2 || rows !== 168) throw new Error(`${name}.npy: unexpected shape ${arr.shape.join('x')}`);
  const block = rows * frames;
  const part = (p: number, from: number, n: number): Float64Array => arr.data.slice(p * block + from * frames, p * block + (from + n) * frames);
  return {
    name,
    samples,
    frames,
    features: {
      reflect: { mfcc: part(0, 0, 40), logmel: part(0, 40, 128) },
      constant: { mfcc: part(1, 0, 40), logmel: part(1, 40, 128) },
    },
  };
}

/** Largest |a - b| and where (row, frame). */
export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>, frames: number): { max: number; row: number; frame: number } {
  if (a.length !== b.length) throw new Error(`length ${a.length} != ${b.length}`);
  let max = 0;
  let at = 0;
  for (let i = 0; i < a.length; i++) {
    const d = Math.abs(a[i] - b[i]);
    if (!(d <= max)) {
      max = d;
      at = i;
    }
  }
  return { max, row: Math.floor(at / frames), frame: at % frames };
}
