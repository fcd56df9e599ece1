import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { makeTempDir } from '../helpers';
import { groupFromFilename, parseCsvLine, scanDataset } from '../../src/model/dataset';
import { UserError } from '../../src/util/errors';

function touch(file: string, bytes = 44): void {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, Buffer.alloc(bytes));
}

test('labels are the sorted visible sub-folders; hidden entries and files are ignored', async () => {
  const dir = makeTempDir();
  for (const l of ['yes', '_background_', 'No', 'go', '.hidden']) touch(path.join(dir, l, 'a.wav'));
  touch(path.join(dir, 'readme.wav'));
  touch(path.join(dir, 'yes', '.b.wav'));
  touch(path.join(dir, 'yes', 'notes.txt'));
  const ds = await scanDataset(dir);
  // Code-unit order, like Python's sorted(): upper case before '_' before lower case.
  assert.deepEqual(ds.labels, ['No', '_background_', 'go', 'yes']);
  assert.equal(ds.clips.length, 4);
  assert.deepEqual(
    ds.clips.map((c) => [c.relPath, c.labelIndex]),
    [['No/a.wav', 0], ['_background_/a.wav', 1], ['go/a.wav', 2], ['yes/a.wav', 3]],
  );
});

async function rejects(p: Promise<unknown>, re: RegExp, exitCode = 3): Promise<void> {
  await assert.rejects(p, (err: unknown) => {
    assert.ok(err instanceof UserError, `expected a UserError, got ${String(err)}`);
    assert.match(err.message, re);
    assert.equal(err.exitCode, exitCode);
    return true;
  });
}

test('bad layouts are refused with the folder to fix', async () => {
  const dir = makeTempDir();
  await rejects(scanDataset(path.join(dir, 'nope')), /data folder not found: .*nope/);
  const single = path.join(dir, 'single');
  touch(path.join(single, 'yes', 'a.wav'));
  await rejects(scanDataset(single), /only one label \(yes\)/);
  const empty = path.join(dir, 'empty');
  touch(path.join(empty, 'yes', 'a.wav'));
  fs.mkdirSync(path.join(empty, 'no'));
  await rejects(scanDataset(empty), /label folder .*no has no \.wav files/);
  const none = path.join(dir, 'none');
  fs.mkdirSync(none);
  await rejects(scanDataset(none), /no label folders/);
});

test('speaker groups come from manifest.csv, else from file names', async () => {
  const dir = makeTempDir();
  touch(path.join(dir, 'yes', 'y1.wav'));
  touch(path.join(dir, 'no', 'n1.wav'));
  touch(path.join(dir, 'no', 'n2.wav'));
  fs.writeFileSync(path.join(dir, 'manifest.csv'), 'file,label,voice\nyes/y1.wav,yes,"espeak-ng:en+m3"\nno/n1.wav,no,flite:awb\nno/n2.wav,no,\n');
  const ds = await scanDataset(dir);
  assert.equal(ds.groupSource, 'manifest');
  assert.deepEqual(ds.clips.map((c) => c.group), ['flite:awb', null, 'espeak-ng:en+m3']);

  const dir2 = makeTempDir();
  touch(path.join(dir2, 'yes', 'alice__1.wav'));
  touch(path.join(dir2, 'no', 'bob_nohash_0.wav'));
  touch(path.join(dir2, 'no', 'plain.wav'));
  const ds2 = await scanDataset(dir2);
  assert.equal(ds2.groupSource, 'filename');
  assert.deepEqual(ds2.clips.map((c) => c.group), ['bob', null, 'alice']);
  assert.equal(groupFromFilename('x/carol__yes_3.wav'), 'carol');
  assert.equal(groupFromFilename('yes_3.wav'), null);
  assert.deepEqual(parseCsvLine('a,"b,""c""",d'), ['a', 'b,"c"', 'd']);
});

test('the fingerprint changes when a clip changes size or time, not otherwise', async () => {
  const dir = makeTempDir();
  touch(path.join(dir, 'a', '1.wav'));
  touch(path.join(dir, 'b', '1.wav'));
  const f1 = (await scanDataset(dir)).fingerprint;
  assert.equal((await scanDataset(dir)).fingerprint, f1);
  touch(path.join(dir, 'b', '1.wav'), 46);
  const f2 = (await scanDataset(dir)).fingerprint;
  assert.notEqual(f2, f1);
  fs.utimesSync(path.join(dir, 'b', '1.wav'), new Date(1e12), new Date(1e12));
  assert.notEqual((await scanDataset(dir)).fingerprint, f2);
});
