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
import { errnoCode, errorMessage, inputError, isUserError } from '../util/errors';
import { dbfs, formatDbfs, peakInt } from './level';
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
  private readonly saveFile: typeof saveClip;

  /** `saveFile` replaces the real writer in tests (to simulate a full disk). */
  constructor(dir: string, sampleRate = 16000, saveFile: typeof saveClip = saveClip) {
    this.dir = dir;
    this.sampleRate = sampleRate;
    this.saveFile = saveFile;
  }

  /**
   * Create the folder (and parents) if missing and prove it takes files, by creating and
   * removing a probe file: a read-only folder or disk must fail here, before any sound
   * is recorded, not when the first clip is saved (from a microphone that clip is lost).
   * A real write also catches what access(W_OK) misses: read-only mounts, and root, for
   * whom permission bits never deny.
   */
  async prepare(): Promise<void> {
    try {
      await fsp.mkdir(this.dir, { recursive: true });
    } catch (err) {
      throw folderWriteError(this.dir, err, 'create the folder');
    }
    const probe = path.join(this.dir, `.kws-write-test.${process.pid}.${randomId()}.tmp`);
    try {
      const handle = await fsp.open(probe, 'wx');
      await handle.close();
    } catch (err) {
      throw folderWriteError(this.dir, err, 'write in the folder');
    }
    await fsp.rm(probe, { force: true });
  }

  async save(samples: Int16Array): Promise<SavedClip> {
    const file = await this.saveFile(
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
    ).catch((err: unknown) => {
      throw folderWriteError(this.dir, err, `save a ${(samples.length / this.sampleRate).toFixed(3)} s clip`);
    });
    const peak = peakInt(samples);
    const clip: SavedClip = { file, samples: samples.length, seconds: samples.length / this.sampleRate, peak, peakDbfs: dbfs(peak) };
    this.saved.push(clip);
    return clip;
  }
}

/**
 * Open the audio source, then prepare the clips folder: in that order, so a missing file or
 * recorder leaves no folder behind, and the folder is proved writable before any sound is
 * read. If the folder fails, the source is stopped again.
 */
export async function openSourceThenFolder<S extends { stop(): void }>(writer: ClipWriter, open: () => Promise<S>): Promise<S> {
  const source = await open();
  try {
    await writer.prepare();
  } catch (err) {
    source.stop();
    throw err;
  }
  return source;
}

/**
 * A failure to create or write in a recordings folder, as a message a person can act on
 * (exit 3): the folder, what kws was doing, and the cause in words. Errors that are
 * already a UserError pass through; anything else is a bug and is rethrown as it is.
 */
export function folderWriteError(dir: string, err: unknown, doing: string): unknown {
  if (isUserError(err)) return err;
  const code = errnoCode(err);
  const shown = relativeToCwd(dir);
  switch (code) {
    case 'EEXIST':
    case 'ENOTDIR':
      return inputError(`${shown}: cannot ${doing}: a file is in the way (a path part is a file, not a folder)`);
    case 'EACCES':
    case 'EPERM':
      return inputError(`${shown}: cannot ${doing}: permission denied (the folder is not writable)`, 'Fix the permissions (e.g. `chmod u+w FOLDER`) or record into another folder with --dir.');
    case 'EROFS':
      return inputError(`${shown}: cannot ${doing}: the disk is read-only`, 'Record into another folder with --dir.');
    case 'ENOSPC':
    case 'EDQUOT':
      return inputError(`${shown}: cannot ${doing}: the disk is full${code === 'EDQUOT' ? ' (your disk quota is used up)' : ''}`, 'Free some space, or record into another disk with --dir.');
    case undefined:
      return err;
    default:
      return inputError(`${shown}: cannot ${doing} (${code}: ${errorMessage(err)})`);
  }
}

/**
 * What `kws record` and `kws fixed` print on stdout for each saved clip: one JSON object a
 * line with --json (peakDbfs null for digital silence), else a line for people. One
 * function, so the two commands' outputs cannot drift apart.
 */
export function savedClipLine(saved: SavedClip, o: { label: string; startSeconds: number; json: boolean; reason?: string; note?: string }): string {
  if (o.json) {
    const peakDbfs = Number.isFinite(saved.peakDbfs) ? Number(saved.peakDbfs.toFixed(2)) : null;
    return `${JSON.stringify({ file: saved.file, label: o.label, samples: saved.samples, seconds: saved.seconds, peak: saved.peak, peakDbfs, startSeconds: o.startSeconds, reason: o.reason })}\n`;
  }
  return `saved ${relativeToCwd(saved.file)}  ${saved.seconds.toFixed(3)} s  peak ${formatDbfs(saved.peakDbfs)} dBFS${o.note ?? ''}\n`;
}

export function relativeToCwd(p: string): string {
  const rel = path.relative(process.cwd(), p);
  return rel && !rel.startsWith('..') ? rel : p;
}
