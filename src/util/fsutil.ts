import { promises as fsp, constants as fsc } from 'node:fs';
import * as path from 'node:path';
import { randomBytes } from 'node:crypto';

/** A temporary name beside `target`, so the final rename stays on one filesystem (atomic). */
export function tempPathFor(target: string): string {
  return path.join(path.dirname(target), `.${path.basename(target)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
}

/**
 * Write `data` to `file` and fsync it before closing, so a rename or a "saved" message that
 * follows never points at data still only in the page cache. `wx` (default) refuses to
 * overwrite an existing file.
 */
export async function writeFileSynced(file: string, data: string | Uint8Array, flags: 'w' | 'wx' = 'wx'): Promise<void> {
  const handle = await fsp.open(file, flags);
  try {
    await handle.writeFile(data);
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/** Write a file atomically: write a temporary sibling, fsync, then rename over the target. */
export async function writeFileAtomic(target: string, data: string | Uint8Array): Promise<void> {
  await fsp.mkdir(path.dirname(target), { recursive: true });
  const tmp = tempPathFor(target);
  await writeFileSynced(tmp, data, 'w');
  try {
    await fsp.rename(tmp, target);
  } catch (err) {
    await fsp.rm(tmp, { force: true });
    throw err;
  }
}

/**
 * Move a finished temporary file to `target` without ever replacing an existing file:
 * link() fails with EEXIST where rename() would silently overwrite.
 */
export async function publishNoClobber(tmp: string, target: string): Promise<void> {
  try {
    await fsp.link(tmp, target);
  } finally {
    await fsp.rm(tmp, { force: true });
  }
}

export async function pathExists(p: string): Promise<boolean> {
  try {
    await fsp.access(p, fsc.F_OK);
    return true;
  } catch {
    return false;
  }
}

export async function isDirectory(p: string): Promise<boolean> {
  try {
    return (await fsp.stat(p)).isDirectory();
  } catch {
    return false;
  }
}

/** Sorted names of the visible sub-folders of `dir` (hidden entries and files ignored). */
export async function listSubfolders(dir: string): Promise<string[]> {
  const entries = await fsp.readdir(dir, { withFileTypes: true });
  return entries
    .filter((e) => e.isDirectory() && !e.name.startsWith('.'))
    .map((e) => e.name)
    .sort();
}

/** Every *.wav file under `dir`, recursively, sorted; hidden entries ignored. */
export async function listWavFiles(dir: string): Promise<string[]> {
  const out: string[] = [];
  async function walk(d: string): Promise<void> {
    const entries = await fsp.readdir(d, { withFileTypes: true });
    for (const e of entries) {
      if (e.name.startsWith('.')) continue;
      const p = path.join(d, e.name);
      if (e.isDirectory()) await walk(p);
      else if (e.isFile() && e.name.toLowerCase().endsWith('.wav')) out.push(p);
    }
  }
  await walk(dir);
  return out.sort();
}
