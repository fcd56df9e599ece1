/**
 * Saving clips: a folder that cannot take files fails before recording starts, and a
 * full disk while saving is one input error naming the folder, not a stack trace.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { makeTempDir } from '../helpers';
import { ClipWriter, folderWriteError } from '../../src/audio/clipwriter';
import { ExitCode, isUserError } from '../../src/util/errors';

const errno = (code: string): NodeJS.ErrnoException => Object.assign(new Error(`${code}: something`), { code });

test('folderWriteError: each errno becomes an input error (exit 3) naming the folder and the cause', () => {
  const cases: [string, RegExp][] = [
    ['EACCES', /permission denied/],
    ['EPERM', /permission denied/],
    ['EROFS', /read-only/],
    ['ENOSPC', /the disk is full/],
    ['EDQUOT', /disk is full \(your disk quota/],
    ['ENOTDIR', /a file is in the way/],
    ['EEXIST', /a file is in the way/],
    ['EIO', /EIO/],
  ];
  for (const [code, re] of cases) {
    const e = folderWriteError('/rec/yes', errno(code), 'save a 1.000 s clip');
    assert.ok(isUserError(e), code);
    assert.equal(e.exitCode, ExitCode.input, code);
    assert.match(e.message, /^\/rec\/yes: cannot save a 1\.000 s clip/, code);
    assert.match(e.message, re, code);
  }
  // Not a file-system failure: a bug, passed through unchanged so it keeps its stack.
  const bug = new TypeError('x is undefined');
  assert.equal(folderWriteError('/rec/yes', bug, 'save'), bug);
});

test('prepare() creates the folder and leaves no probe file behind', async () => {
  const dir = path.join(makeTempDir(), 'a', 'b');
  const w = new ClipWriter(dir);
  await w.prepare();
  assert.deepEqual(fs.readdirSync(dir), []);
});

test('prepare() fails on a folder that cannot be created, with the folder named', async () => {
  const root = makeTempDir();
  fs.writeFileSync(path.join(root, 'file'), 'x');
  const w = new ClipWriter(path.join(root, 'file', 'yes'));
  await assert.rejects(w.prepare(), (e: unknown) => isUserError(e) && e.exitCode === ExitCode.input && /file[/\\]yes: cannot create the folder: a file is in the way/.test(e.message));
});

test('prepare() fails on a read-only folder (checked by writing, not by permission bits)', async (t) => {
  if (process.platform === 'win32' || process.getuid?.() === 0) {
    // root writes through mode 555; test/e2e/record.test.ts runs this case as `nobody`.
    t.skip('running as root (or on Windows): permission bits do not deny writes here; see the e2e test run as nobody');
    return;
  }
  const dir = path.join(makeTempDir(), 'ro');
  fs.mkdirSync(dir, { mode: 0o555 });
  try {
    await assert.rejects(new ClipWriter(dir).prepare(), (e: unknown) => isUserError(e) && e.exitCode === ExitCode.input && /ro: cannot write in the folder: permission denied/.test(e.message));
  } finally {
    fs.chmodSync(dir, 0o755);
  }
});

test('a full disk while saving is an input error naming the folder; nothing is counted as saved', async () => {
  const dir = makeTempDir();
  let calls = 0;
  const w = new ClipWriter(dir, 16000, async () => {
    calls++;
    throw errno('ENOSPC');
  });
  await w.prepare();
  await assert.rejects(w.save(new Int16Array(8000)), (e: unknown) => {
    assert.ok(isUserError(e));
    assert.equal(e.exitCode, ExitCode.input);
    assert.equal(e.message, `${dir}: cannot save a 0.500 s clip: the disk is full`);
    assert.match(e.hint ?? '', /Free some space|--dir/);
    return true;
  });
  assert.equal(calls, 1);
  assert.deepEqual(w.saved, []);
});
