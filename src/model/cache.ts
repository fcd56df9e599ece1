/**
 * Cache of computed features in preproc/, so a second `kws train` on the same clips
 * (another architecture, more epochs) skips the feature pass. An entry is keyed by
 * a hash of everything that determines its content: the feature spec, how clips
 * are fitted to the window, and each clip's path, size and mtime. Change any of
 * them and the key changes, so a stale entry can never be read.
 *
 * Owner: training.
 */
import { promises as fsp } from 'node:fs';
import * as path from 'node:path';
import { createHash } from 'node:crypto';
import { writeFileAtomic } from '../util/fsutil';

/** Bump when the cache layout or the meaning of cached values changes. */
const CACHE_VERSION = 1;

export interface CacheKeyInput {
  spec: unknown;
  fit: string;
  clips: readonly { relPath: string; size: number; mtimeMs: number }[];
}

export function featureCacheKey(input: CacheKeyInput): string {
  const h = createHash('sha256');
  h.update(JSON.stringify({ v: CACHE_VERSION, spec: input.spec, fit: input.fit }));
  for (const c of input.clips) h.update(`\n${c.relPath}\0${c.size}\0${Math.round(c.mtimeMs)}`);
  return h.digest('hex').slice(0, 40);
}

export interface CachedFeatures {
  /** count * rowSize values, clip after clip. */
  data: Float32Array;
  count: number;
  rowSize: number;
}

function paths(dir: string, key: string): { bin: string; meta: string } {
  return { bin: path.join(dir, `features-${key}.f32`), meta: path.join(dir, `features-${key}.json`) };
}

/** The cached features for `key`, or null when absent or damaged (then recomputed). */
export async function readFeatureCache(dir: string, key: string): Promise<CachedFeatures | null> {
  const p = paths(dir, key);
  try {
    const meta = JSON.parse(await fsp.readFile(p.meta, 'utf8')) as { key?: unknown; count?: unknown; rowSize?: unknown };
    if (meta.key !== key || typeof meta.count !== 'number' || typeof meta.rowSize !== 'number') return null;
    const buf = await fsp.readFile(p.bin);
    if (buf.byteLength !== meta.count * meta.rowSize * 4) return null;
    const data = new Float32Array(meta.count * meta.rowSize);
    new Uint8Array(data.buffer).set(buf);
    return { data, count: meta.count, rowSize: meta.rowSize };
  } catch {
    return null;
  }
}

/** Store features; the metadata is written last, so a half-written entry is never read. */
export async function writeFeatureCache(dir: string, key: string, f: CachedFeatures, extra: Record<string, unknown> = {}): Promise<void> {
  const p = paths(dir, key);
  await writeFileAtomic(p.bin, new Uint8Array(f.data.buffer, f.data.byteOffset, f.data.byteLength));
  await writeFileAtomic(p.meta, `${JSON.stringify({ key, count: f.count, rowSize: f.rowSize, ...extra }, null, 1)}\n`);
}
