/**
 * The quick start's main job: `kws demo` serves the shipped model, streams the shipped
 * recording through the real `kws stream`, scores the hits, and leaves nothing running.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { makeTempDir, repoRoot, runKws, spawnKws } from '../helpers';

/** Servers started by a demo of this checkout (other tests start servers of their own, concurrently). */
function kwsServers(): string[] {
  const ps = spawnSync('ps', ['-eo', 'pid=,args='], { encoding: 'utf8' }).stdout;
  const demoServer = `${path.join(repoRoot, 'bin', 'kws')} serve -n ${path.join(repoRoot, 'assets', 'demo', 'model')} --port 0 --host 127.0.0.1`;
  return ps.split('\n').filter((l) => l.includes(demoServer));
}

test('kws demo finds the keywords of the shipped recording and stops its server', () => {
  const before = kwsServers();
  const r = runKws(['demo', '--json'], { timeoutMs: 180_000 });
  assert.equal(r.status, 0, r.stderr);
  const out = JSON.parse(r.stdout) as {
    hits: { label: string; probability: number; t: number; word: { label: string } | null }[];
    score: { keywords: number; detected: number; recall: number; falseHits: number };
  };
  assert.equal(out.score.keywords, 12, 'the shipped recording has 12 keywords');
  // The shipped model found 10 of 12 with no false hit when it was made; leave some
  // margin for backend differences, but a broken pipeline finds next to nothing.
  assert.ok(out.score.recall >= 0.6, `recall ${out.score.recall}`);
  assert.ok(out.score.falseHits <= 2, `false hits ${out.score.falseHits}`);
  for (const h of out.hits) {
    assert.ok(h.probability >= 0.6 && h.probability <= 1, `hit probability ${h.probability}`);
    assert.ok(!h.label.startsWith('_'), 'hidden labels are not reported');
  }
  assert.deepEqual(kwsServers(), before, 'the demo server was stopped');
});

test('kws demo prints hits next to the words said and a one-line score', () => {
  const r = runKws(['demo'], { timeoutMs: 180_000 });
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /hit (yes|no|stop|go)\s+0\.\d\d\s+ok\s+said "(yes|no|stop|go)" at \d+\.\d\d s/);
  assert.match(r.stdout, /^score: \d+\/12 keywords found \(\d+ %\), \d+ false hits? in 60 s/m);
});

test('kws demo: a bad labels file or threshold is a kws: message with its exit code, not a stack trace', () => {
  const dir = makeTempDir();
  const labels = path.join(dir, 'bad.labels.json');
  fs.writeFileSync(labels, '[{"x": 1}]');
  const bad = runKws(['demo', '--labels', labels]);
  assert.equal(bad.status, 3, bad.stderr);
  assert.match(bad.stderr, /^kws: .*bad\.labels\.json: entry 1 needs a string "label"/m);
  assert.doesNotMatch(bad.stderr, /\n\s+at /, 'no stack trace');
  const nan = runKws(['demo', '--threshold', 'abc']);
  assert.equal(nan.status, 2, nan.stderr);
  assert.match(nan.stderr, /--threshold must be a number from 0 to 1, got "abc"/);
  const missing = runKws(['demo', '--model', path.join(dir, 'no-such-model')]);
  assert.equal(missing.status, 3, missing.stderr);
  assert.match(missing.stderr, /Check the path given to --model/, 'a path the user gave is not blamed on the installation');
});

test('kws demo checks every input before it prints its header or starts a server', () => {
  const dir = makeTempDir();
  const notWav = path.join(dir, 'notes.wav');
  fs.writeFileSync(notWav, 'these are not audio samples');
  const modelJson = path.join(repoRoot, 'assets', 'demo', 'model', 'model.json');
  const cases: [string[], RegExp][] = [
    [['--recording', path.join(dir, 'missing.wav'), '--labels', path.join(repoRoot, 'assets', 'demo', 'stream.labels.json')], /the demo recording is missing: .*missing\.wav/],
    [['--recording', notWav, '--labels', path.join(repoRoot, 'assets', 'demo', 'stream.labels.json')], /notes\.wav/],
    [['--model', modelJson], /is a file .*model\.json.*, not a model folder/],
  ];
  for (const [args, message] of cases) {
    const r = runKws(['demo', ...args]);
    assert.equal(r.status, 3, `${args.join(' ')}: ${r.stderr}`);
    assert.equal(r.stdout, '', `nothing on stdout before the error (${args.join(' ')})`);
    assert.match(r.stderr, message);
    assert.doesNotMatch(r.stderr, /server|\n\s+at /, 'no server was started, no stack trace');
  }
});

test('a signal to kws demo alone (not its process group) still stops its server', async () => {
  const before = kwsServers();
  const demo = spawnKws(['demo', '--realtime']);
  const exited = new Promise<number | null>((resolve) => demo.on('close', (code) => resolve(code)));
  const waitUntil = async (cond: () => boolean, ms: number): Promise<boolean> => {
    const until = Date.now() + ms;
    while (!cond()) {
      if (Date.now() > until) return false;
      await new Promise((r) => setTimeout(r, 100));
    }
    return true;
  };
  assert.ok(await waitUntil(() => kwsServers().length > before.length, 30_000), 'the demo started its server');
  demo.kill('SIGINT');
  assert.equal(await exited, 130);
  assert.ok(await waitUntil(() => kwsServers().length === before.length, 10_000), `left running: ${kwsServers().join('\n')}`);
});
