import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { makeTempDir } from '../helpers';
import { configPath, loadConfig, resolveSilenceThreshold, updateConfig } from '../../src/util/config';
import { isUserError } from '../../src/util/errors';

test('threshold: --threshold, else kws.json, else 30; other keys survive an update', async () => {
  const dir = makeTempDir();
  assert.deepEqual(await resolveSilenceThreshold(undefined, dir), { value: 30, source: 'default' });
  fs.writeFileSync(path.join(dir, 'kws.json'), JSON.stringify({ somethingElse: { a: 1 } }));
  const file = await updateConfig({ silenceThreshold: 44 }, dir);
  assert.equal(file, path.join(dir, 'kws.json'));
  assert.deepEqual(JSON.parse(fs.readFileSync(file, 'utf8')), { somethingElse: { a: 1 }, silenceThreshold: 44 });
  assert.deepEqual(await resolveSilenceThreshold(undefined, dir), { value: 44, source: file });
  assert.deepEqual(await resolveSilenceThreshold(12, dir), { value: 12, source: '--threshold' });
  assert.deepEqual(fs.readdirSync(dir), ['kws.json']);
});

test('a broken config file is an input error naming it', async () => {
  const dir = makeTempDir();
  fs.writeFileSync(path.join(dir, 'kws.json'), '{"silenceThreshold": 30,');
  await assert.rejects(loadConfig(dir), (e: unknown) => isUserError(e) && e.message.includes('kws.json') && e.message.includes('not valid JSON'));
  fs.writeFileSync(path.join(dir, 'kws.json'), '{"silenceThreshold": "loud"}');
  await assert.rejects(loadConfig(dir), (e: unknown) => isUserError(e) && e.message.includes('"silenceThreshold" must be a number'));
  fs.writeFileSync(path.join(dir, 'kws.json'), '[1]');
  await assert.rejects(loadConfig(dir), (e: unknown) => isUserError(e) && e.message.includes('JSON object'));
});

test('KWS_CONFIG points elsewhere', async () => {
  const dir = makeTempDir();
  const other = path.join(dir, 'elsewhere.json');
  process.env.KWS_CONFIG = other;
  try {
    assert.equal(configPath(dir), other);
    await updateConfig({ silenceThreshold: 7 }, dir);
    assert.equal((await loadConfig(dir)).silenceThreshold, 7);
    assert.ok(fs.existsSync(other));
  } finally {
    delete process.env.KWS_CONFIG;
  }
});

test('KWS_CONFIG naming a missing file is an input error when reading, but rms --save may create it', async () => {
  const dir = makeTempDir();
  const missing = path.join(dir, 'nope', 'kws.json');
  process.env.KWS_CONFIG = missing;
  try {
    await assert.rejects(resolveSilenceThreshold(undefined, dir), (e: unknown) => isUserError(e) && e.exitCode === 3 && e.message.includes(missing) && e.message.includes('KWS_CONFIG'));
    // An explicit --threshold does not need the file.
    assert.deepEqual(await resolveSilenceThreshold(5, dir), { value: 5, source: '--threshold' });
    await updateConfig({ silenceThreshold: 9 }, dir);
    assert.equal((await loadConfig(dir)).silenceThreshold, 9);
  } finally {
    delete process.env.KWS_CONFIG;
  }
  // Without KWS_CONFIG a missing ./kws.json just means the defaults.
  assert.deepEqual(await loadConfig(makeTempDir()), {});
});
