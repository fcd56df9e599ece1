/**
 * End to end: every long-running command can be stopped the moment it says it runs.
 *
 * Scripts, supervisors and `docker stop` signal as soon as they read "listening" or
 * "Recording". If that line is written before the SIGINT/SIGTERM handlers exist, a signal
 * in between takes Node's default action: the process dies with no summary, no clean exit
 * and (for a recording) possibly a half-written clip; `kws demo` would leave its server
 * running. Found by loaded CI runs, where `kws serve` and `kws demo` died like that; the
 * serve case was reproduced in 16 of 30 tries with the machine busy.
 *
 * Timing cannot prove the order, so each command runs with a preload that wraps
 * process.stderr.write (and child_process.spawn) and logs how many signal listeners exist
 * at every write (and start of a child).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { makeTempDir, repoRoot, runKws, startKwsServe, stopKwsServe } from '../helpers';
import { encodeWav } from '../../src/audio/wav';

interface Write {
  sigint: number;
  sigterm: number;
  text: string;
}

const PRELOAD = `
const fs = require('fs');
const log = process.env.KWS_SIGNAL_LOG;
const note = (text) => fs.appendFileSync(log, JSON.stringify({ sigint: process.listenerCount('SIGINT'), sigterm: process.listenerCount('SIGTERM'), text }) + '\\n');
const write = process.stderr.write.bind(process.stderr);
process.stderr.write = (chunk, ...rest) => {
  note(String(chunk));
  return write(chunk, ...rest);
};
// Starting a child is announcing too: a script may see it in ps and signal the parent.
const cp = require('child_process');
const spawn = cp.spawn;
cp.spawn = function (cmd, args, ...rest) {
  note('spawn ' + [cmd, ...(Array.isArray(args) ? args : [])].join(' '));
  const child = spawn.call(this, cmd, args, ...rest);
  // The worst moment for a Ctrl+C: the recorder has just started, the source is not open yet.
  if (process.env.KWS_SIGINT_AT_SPAWN === cmd) process.kill(process.pid, 'SIGINT');
  return child;
};
`;

const dir = makeTempDir('kws-signals-');
const preload = path.join(dir, 'count-signal-listeners.js');
fs.writeFileSync(preload, PRELOAD);
const clip = path.join(dir, 'clip.wav');
fs.writeFileSync(clip, encodeWav(new Int16Array(16000), 16000));

function envFor(name: string): { env: NodeJS.ProcessEnv; writes: () => Write[] } {
  const log = path.join(dir, `${name}.jsonl`);
  return {
    env: { NODE_OPTIONS: `--require ${preload}`, KWS_SIGNAL_LOG: log },
    writes: () => (fs.existsSync(log) ? fs.readFileSync(log, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Write) : []),
  };
}

/** The write that announces the command runs: both handlers must already be installed. */
function assertHandledWhenAnnounced(writes: Write[], announce: RegExp, what: string): void {
  const w = writes.find((x) => announce.test(x.text));
  assert.ok(w, `${what}: no stderr write matches ${announce}; writes:\n${writes.map((x) => x.text).join('')}`);
  assert.ok(w.sigint >= 1 && w.sigterm >= 1, `${what}: "${w.text.trim()}" happened with ${w.sigint} SIGINT and ${w.sigterm} SIGTERM handlers`);
}

const RECORDERS: [string, string[], RegExp][] = [
  ['rms', ['rms', '--input', '-'], /^Level of /],
  ['record', ['record', 'yes', '--input', '-'], /^Recording "yes"/],
  ['fixed', ['fixed', 'no', '4000', '--input', '-'], /^Recording "no"/],
];

for (const [name, args, announce] of RECORDERS) {
  test(`kws ${name} has its Ctrl+C/SIGTERM handlers before it says it has started`, () => {
    const { env, writes } = envFor(name);
    const r = runKws(args, { cwd: dir, env, input: '' });
    assert.equal(r.status, 0, r.stderr);
    assertHandledWhenAnnounced(writes(), announce, `kws ${name}`);
  });
}

// A stand-in for arecord that records "silence" until it is stopped, on a PATH of its own.
const fakeBin = path.join(dir, 'bin');
fs.mkdirSync(fakeBin);
fs.writeFileSync(path.join(fakeBin, 'arecord'), '#!/bin/sh\nexec cat /dev/zero\n', { mode: 0o755 });
const micEnv = (name: string): { env: NodeJS.ProcessEnv; writes: () => Write[] } => {
  const e = envFor(name);
  return { env: { ...e.env, PATH: `${fakeBin}${path.delimiter}${process.env.PATH ?? ''}`, KWS_SIGINT_AT_SPAWN: 'arecord' }, writes: e.writes };
};
const MIC = process.platform === 'win32' ? 'no sh on Windows' : false;

for (const [name, args] of [
  ['rms', ['rms']],
  ['record', ['record', 'yes']],
  ['fixed', ['fixed', 'no', '4000', '--countdown', '0']],
] as [string, string[]][]) {
  test(`kws ${name}: a Ctrl+C right after the recorder starts stops the recording cleanly`, { skip: MIC }, () => {
    // Before the handlers came first, Node's default action ended kws here (no exit code)
    // and left the recorder behind; the recorder above never ends by itself.
    const { env, writes } = micEnv(`${name}-mic`);
    const r = runKws([...args, '--recorder', 'arecord'], { cwd: dir, env, timeoutMs: 30_000 });
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stderr, /Ctrl\+C: /);
    assertHandledWhenAnnounced(writes(), /^spawn arecord /, `kws ${name}`);
  });
}

test('kws serve and kws stream have their signal handlers before they say they listen or stream', async () => {
  const serve = envFor('serve');
  const server = await startKwsServe(path.join(repoRoot, 'assets', 'demo', 'model'), ['--host', '127.0.0.1'], serve.env);
  let code: number | null;
  try {
    assertHandledWhenAnnounced(serve.writes(), /listening on udp/, 'kws serve');
    const stream = envFor('stream');
    const r = runKws(['stream', '-i', clip, '--fast', '-p', String(server.port), '--host', '127.0.0.1'], { cwd: dir, env: stream.env });
    assert.equal(r.status, 0, r.stderr);
    assertHandledWhenAnnounced(stream.writes(), /^kws stream: .* -> /, 'kws stream');
    // From the microphone, a Ctrl+C before the server has even answered.
    const mic = micEnv('stream-mic');
    const m = runKws(['stream', '--recorder', 'arecord', '-p', String(server.port), '--host', '127.0.0.1'], { cwd: dir, env: mic.env, timeoutMs: 30_000 });
    assert.equal(m.status, 0, m.stderr);
    assert.match(m.stderr, /Ctrl\+C: .*\n(.|\n)*kws stream: stopped after/);
    assertHandledWhenAnnounced(mic.writes(), /^spawn arecord /, 'kws stream (microphone)');
  } finally {
    code = await stopKwsServe(server.child);
  }
  assert.equal(code, 0, server.stderr());
  assert.match(server.stderr(), /SIGTERM: stopping/);
});

test('kws demo has its signal handlers before it starts its server', () => {
  // A script that sees the server in ps and signals the demo must not leave the server behind.
  const { env, writes } = envFor('demo');
  const r = runKws(['demo', '--json'], { cwd: dir, env });
  assert.equal(r.status, 0, r.stderr);
  assertHandledWhenAnnounced(writes(), /^spawn \S+ \S+ serve /, 'kws demo');
});
