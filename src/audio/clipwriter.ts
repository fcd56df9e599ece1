/**
 * Saving recorded clips: each clip is written the moment it ends (so a crash loses at
 * most the clip in progress, where the original lost the whole session), atomically
 * and never over an existing file.
 *
 * Names follow the original: 8 random characters [A-Z0-9] for the session, then the
 * clip number: `K7Q2ZP9M_001.wav`. The random part keeps two sessions (or two
 * people's folders merged later) from colliding; the number keeps a session in order.
 */
import { randomInt } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import * as path from 'node:path';
import { errnoCode, inputError } from '../util/errors';
import { dbfs, peakInt } from './level';
import { saveClip } from './wav';

const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789';

export function randomId(length = 8): string {
  let s = '';
  for (let i = 0; i < length; i++) s += ALPHABET[randomInt(ALPHABET.length)];
  return s;
}

export interface SavedClip {
  file: string;
  samples: number;
  seconds: number;
  /** Largest absolute sample, int16 scale. */
  peak: number;
  peakDbfs: number;
}

export class ClipWriter {
  readonly dir: string;
  readonly sampleRate: number;
  private session = randomId();
  private index = 0;
  saved: SavedClip[] = [];

  constructor(dir: string, sampleRate = 16000) {
    this.dir = dir;
    this.sampleRate = sampleRate;
  }

  /** Create the folder (and parents) if missing; a file in the way is an input error. */
  async prepare(): Promise<void> {
    try {
      await fsp.mkdir(this.dir, { recursive: true });
    } catch (err) {
      const code = errnoCode(err);
      if (code === 'EEXIST' || code === 'ENOTDIR') throw inputError(`${this.dir}: cannot create the folder, a file is in the way`);
      if (code === 'EACCES' || code === 'EPERM') throw inputError(`${this.dir}: permission denied creating the folder`);
      throw inputError(`${this.dir}: cannot create the folder (${code ?? String(err)})`);
    }
  }

  async save(samples: Int16Array): Promise<SavedClip> {
    const file = await saveClip(
      this.dir,
      () => {
        this.index++;
        if (this.index > 999) {
          // A long session: start a fresh random prefix rather than widen the number.
          this.session = randomId();
          this.index = 1;
        }
        return `${this.session}_${String(this.index).padStart(3, '0')}.wav`;
      },
      samples,
      this.sampleRate,
    );
    const peak = peakInt(samples);
    const clip: SavedClip = { file, samples: samples.length, seconds: samples.length / this.sampleRate, peak, peakDbfs: dbfs(peak) };
    this.saved.push(clip);
    return clip;
  }
}

export function relativeToCwd(p: string): string {
  const rel = path.relative(process.cwd(), p);
  return rel && !rel.startsWith('..') ? rel : p;
}
