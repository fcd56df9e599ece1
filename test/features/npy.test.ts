import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fixturesDir } from '../helpers';
import { encodeNpy, parseNpy, NpyFormatError } from '../../src/features/npy';

const dir = path.join(fixturesDir, 'npy');

test('round trip float32 and float64, header aligned to 64 bytes', () => {
  const data = [1.5, -2, 3.25, 0, 1e-3, 7];
  for (const dtype of ['<f4', '<f8'] as const) {
    const buf = encodeNpy(data, [2, 3], dtype);
    const headerLen = buf.readUInt16LE(8);
    assert.equal((10 + headerLen) % 64, 0);
    const arr = parseNpy(buf);
    assert.deepEqual(arr.shape, [2, 3]);
    assert.equal(arr.dtype, dtype);
    assert.deepEqual(Array.from(arr.data), data.map((v) => (dtype === '<f4' ? Math.fround(v) : v)));
  }
  assert.deepEqual(parseNpy(encodeNpy([4], [1])).shape, [1]);
  assert.throws(() => encodeNpy([1, 2], [3]), /holds 3 values/);
});

// Files written by NumPy 1.24 (see test/fixtures/npy/README.md for the commands).
test('reads files written by NumPy: C and Fortran order, big-endian, version 2, int', () => {
  const c = parseNpy(fs.readFileSync(path.join(dir, 'c_f4.npy')));
  assert.deepEqual(c.shape, [2, 3]);
  assert.deepEqual(Array.from(c.data), [0, 1, 2, 3, 4, 5]);
  const f = parseNpy(fs.readFileSync(path.join(dir, 'fortran_f8.npy')));
  assert.deepEqual(f.shape, [2, 3]);
  assert.deepEqual(Array.from(f.data), [0, 1, 2, 3, 4, 5], 'Fortran order is returned in C order');
  const be = parseNpy(fs.readFileSync(path.join(dir, 'big_f8.npy')));
  assert.deepEqual(Array.from(be.data), [0.5, -1.5, 2.5]);
  const v2 = parseNpy(fs.readFileSync(path.join(dir, 'v2_f4.npy')));
  assert.deepEqual(Array.from(v2.data), [1, 2, 3, 4]);
  const i = parseNpy(fs.readFileSync(path.join(dir, 'int16.npy')));
  assert.deepEqual(Array.from(i.data), [-3, 0, 7]);
});

test('rejects files that are not .npy, truncated data and unsupported dtypes', () => {
  assert.throws(() => parseNpy(Buffer.from('hello world, not numpy')), NpyFormatError);
  const good = encodeNpy([1, 2, 3, 4], [4]);
  assert.throws(() => parseNpy(good.subarray(0, good.length - 4)), /truncated/);
  const complex = Buffer.from(good);
  complex.write("'<c8'", complex.indexOf("'<f4'"), 'latin1');
  assert.throws(() => parseNpy(complex), /unsupported .npy dtype/);
});
