/**
 * No Docker engine runs on CI machines, so the Dockerfile is checked the ways that do
 * not need one: its instructions, that everything it copies exists, and that the command
 * the image runs works when executed outside Docker.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { repoRoot, runKws, spawnKws } from '../helpers';

interface Instruction {
  op: string;
  args: string;
}

function parseDockerfile(text: string): Instruction[] {
  const joined = text.replace(/\\\n/g, ' ');
  return joined
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('#'))
    .map((l) => {
      const m = /^(\w+)\s+(.*)$/.exec(l);
      assert.ok(m, `unparseable Dockerfile line: ${l}`);
      return { op: (m[1] ?? '').toUpperCase(), args: m[2] ?? '' };
    });
}

const dockerfile = parseDockerfile(fs.readFileSync(path.join(repoRoot, 'Dockerfile'), 'utf8'));
const stages = dockerfile.filter((i) => i.op === 'FROM');
const finalStage = dockerfile.slice(dockerfile.lastIndexOf(stages[stages.length - 1] as Instruction));

function jsonArray(args: string): string[] {
  const parsed = JSON.parse(args) as unknown;
  assert.ok(Array.isArray(parsed) && parsed.every((x) => typeof x === 'string'), `not an exec-form array: ${args}`);
  return parsed as string[];
}

test('the Dockerfile is multi-stage, production-only, non-root, exposes 4444/udp with volumes', () => {
  assert.ok(stages.length >= 2, 'a build stage and a runtime stage');
  const runs = finalStage.filter((i) => i.op === 'RUN').map((i) => i.args).join('\n');
  assert.match(runs, /npm ci[^\n]*--omit=dev/, 'the runtime stage installs production dependencies only');
  const user = finalStage.filter((i) => i.op === 'USER').pop();
  assert.ok(user && !/^(root|0)$/.test(user.args.trim()), 'runs as a non-root user');
  assert.ok(finalStage.some((i) => i.op === 'EXPOSE' && /\b4444\/udp\b/.test(i.args)), 'EXPOSE 4444/udp');
  const volumes = finalStage.filter((i) => i.op === 'VOLUME').flatMap((i) => jsonArray(i.args));
  assert.ok(volumes.some((v) => v.endsWith('/models')) && volumes.some((v) => v.endsWith('/stats')), `volumes: ${volumes.join(', ')}`);
  const cmd = jsonArray(finalStage.filter((i) => i.op === 'CMD').pop()?.args ?? '[]');
  assert.deepEqual(cmd.slice(0, 1), ['serve']);
  assert.ok(cmd.join(' ').includes('--host 0.0.0.0'), `CMD serves on every interface: ${cmd.join(' ')}`);
});

test('every file the Dockerfile copies from the build context exists', () => {
  const copies = dockerfile.filter((i) => i.op === 'COPY' && !i.args.startsWith('--from'));
  assert.ok(copies.length > 0);
  const ignored = fs.readFileSync(path.join(repoRoot, '.dockerignore'), 'utf8').split('\n').map((l) => l.trim()).filter(Boolean);
  for (const c of copies) {
    const parts = c.args.split(/\s+/);
    for (const src of parts.slice(0, -1)) {
      assert.ok(fs.existsSync(path.join(repoRoot, src)), `COPY source missing: ${src}`);
      assert.ok(!ignored.includes(src), `COPY source ${src} is excluded by .dockerignore`);
    }
  }
});

test('the image command works outside Docker: kws serve on 0.0.0.0 with the model named by KWS_MODEL', async () => {
  const entry = jsonArray(finalStage.filter((i) => i.op === 'ENTRYPOINT').pop()?.args ?? '[]');
  assert.deepEqual(entry, ['node', 'bin/kws']);
  const cmd = jsonArray(finalStage.filter((i) => i.op === 'CMD').pop()?.args ?? '[]');
  const envModel = finalStage.find((i) => i.op === 'ENV' && i.args.startsWith('KWS_MODEL'));
  assert.ok(envModel, 'ENV KWS_MODEL names the default model');
  // The image's command, with the shipped demo model and a free port instead of 4444.
  const args = cmd.map((a) => (a === '4444' ? '0' : a));
  const server = spawnKws(args, { env: { KWS_MODEL: path.join(repoRoot, 'assets', 'demo', 'model') } });
  let err = '';
  server.stderr?.on('data', (d: Buffer) => (err += d.toString()));
  const closed = new Promise<number | null>((resolve) => server.on('close', (code) => resolve(code)));
  const until = Date.now() + 60_000;
  while (!/listening on udp 0\.0\.0\.0:\d+/.test(err)) {
    if (Date.now() > until || server.exitCode !== null) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  server.kill('SIGTERM');
  const code = await closed;
  assert.match(err, /listening on udp 0\.0\.0\.0:\d+/, err);
  assert.match(err, /without --token/, 'binding every interface without a token warns');
  assert.equal(code, 0, err);
});

test('kws --help answers without loading TensorFlow.js', () => {
  const probe = runKws(['--help'], { env: { NODE_OPTIONS: `--require ${path.join(repoRoot, 'test', 'fixtures', 'forbid-tfjs.js')}` } });
  assert.equal(probe.status, 0, probe.stderr);
});
