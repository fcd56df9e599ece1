import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { makeTempDir } from '../helpers';
import { featureCacheKey, readFeatureCache, writeFeatureCache } from '../../src/model/cache';

const clips = [
  { relPath: 'yes/a.wav', size: 32044, mtimeMs: 1700000000000 },
  { relPath: 'no/b.wav', size: 32044, mtimeMs: 1700000000000 },
];
const spec = { kind: 'logmel', nMels: 40 };

test('the cache key changes with the spec, the fitting, and any clip path, size or mtime', () => {
  const k = featureCacheKey({ spec, fit: 'centre', clips });
  assert.equal(featureCacheKey({ spec: { ...spec }, fit: 'centre', clips: clips.map((c) => ({ ...c })) }), k);
  assert.notEqual(featureCacheKey({ spec: { ...spec, nMels: 64 }, fit: 'centre', clips }), k);
  assert.notEqual(featureCacheKey({ spec, fit: 'start', clips }), k);
  for (const change of [{ relPath: 'yes/c.wav' }, { size: 32046 }, { mtimeMs: 1700000001000 }]) {
    assert.notEqual(featureCacheKey({ spec, fit: 'centre', clips: [{ ...clips[0]!, ...change }, clips[1]!] }), k);
  }
  // Order is part of the key: features are stored clip after clip.
  assert.notEqual(featureCacheKey({ spec, fit: 'centre', clips: [clips[1]!, clips[0]!] }), k);
});

test('cached features round-trip; a missing or damaged entry reads as a miss', async () => {
  const dir = makeTempDir();
  const key = featureCacheKey({ spec, fit: 'centre', clips });
  assert.equal(await readFeatureCache(dir, key), null);
  const data = Float32Array.from({ length: 6 }, (_, i) => i * 0.5 - 1);
  await writeFeatureCache(dir, key, { data, count: 2, rowSize: 3 });
  const back = await readFeatureCache(dir, key);
  assert.deepEqual(back, { data, count: 2, rowSize: 3 });
  // Truncated binary (e.g. a disk that filled up) must not be trusted.
  const bin = path.join(dir, `features-${key}.f32`);
  fs.truncateSync(bin, 8);
  assert.equal(await readFeatureCache(dir, key), null);
  // No temporary files are left behind.
  assert.deepEqual(fs.readdirSync(dir).filter((f) => f.endsWith('.tmp')), []);
});
