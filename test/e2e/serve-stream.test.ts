/**
 * End to end over real UDP sockets on 127.0.0.1: a small model is trained in the test
 * with the real `kws train` (two tones and background noise, which any working pipeline
 * learns in a few epochs), served with the real `kws serve`, and a WAV with known tones
 * is streamed through the real `kws stream`. Then: the original client's raw datagrams,
 * a hostile burst from this process while `kws stream` runs, and --token.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as dgram from 'node:dgram';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { spawn, type ChildProcess } from 'node:child_process';
import { makeTempDir, runKws, kwsBin, distRoot, startKwsServe, stopKwsServe, type ServeProcess } from '../helpers';
import { startVirtualMic, vmicSkip } from '../vmic';
import { encodeWav } from '../../src/audio/wav';
import { createRng } from '../../src/util/rng';
import { createAuthenticator } from '../../src/stream/auth';
import { encode, int16ToPayload, MIN_HELLO_BYTES, MsgType, SampleFormat } from '../../src/stream/protocol';

const SR = 16000;
let tmp = '';
let modelDir = '';

/** Noise at `level` plus, optionally, a tone burst. */
function clip(seconds: number, rng: ReturnType<typeof createRng>, tones: { freq: number; start: number; dur: number }[], level = 300): Int16Array {
  const out = new Int16Array(Math.round(seconds * SR));
  for (let i = 0; i < out.length; i++) out[i] = Math.round(rng.normal() * level);
  for (const t of tones) {
    const a = Math.round(t.start * SR);
    const n = Math.round(t.dur * SR);
    for (let i = 0; i < n && a + i < out.length; i++) {
      // 10 ms fades keep the burst's edges from splattering energy over every band.
      const env = Math.min(1, i / 160, (n - i) / 160);
      out[a + i] = Math.max(-32768, Math.min(32767, (out[a + i] as number) + Math.round(12000 * env * Math.sin((2 * Math.PI * t.freq * i) / SR))));
    }
  }
  return out;
}

function startServe(args: string[]): Promise<ServeProcess> {
  return startKwsServe(modelDir, args);
}

/** Run `kws ARGS` without blocking this process (so it can act while the command runs). */
function runAsync(args: string[], env: NodeJS.ProcessEnv = process.env, onStart?: (child: ChildProcess) => void): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [kwsBin, ...args], { env: { ...env, KWS_DIST: distRoot, NO_COLOR: '1' } });
    onStart?.(child);
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('exit', (status) => resolve({ status, stdout, stderr }));
  });
}

/** The test recording: low at 1.0 s, high at 3.0 s, low at 5.5 s, in 8 s of noise. */
const WORDS = [
  { label: 'low', start_s: 1.0, end_s: 1.5 },
  { label: 'high', start_s: 3.0, end_s: 3.5 },
  { label: 'low', start_s: 5.5, end_s: 6.0 },
];
let wavPath = '';

before(async () => {
  tmp = makeTempDir('kws-e2e-serve-');
  const rng = createRng(7);
  const data = path.join(tmp, 'data');
  for (const label of ['_background_', 'low', 'high']) fs.mkdirSync(path.join(data, label), { recursive: true });
  for (let i = 0; i < 30; i++) {
    const start = 0.1 + rng.next() * 0.35;
    const dur = 0.4 + rng.next() * 0.15;
    fs.writeFileSync(path.join(data, 'low', `l${i}.wav`), encodeWav(clip(1, rng, [{ freq: 350 + rng.next() * 200, start, dur }]), SR));
    fs.writeFileSync(path.join(data, 'high', `h${i}.wav`), encodeWav(clip(1, rng, [{ freq: 2500 + rng.next() * 1000, start, dur }]), SR));
    fs.writeFileSync(path.join(data, '_background_', `b${i}.wav`), encodeWav(clip(1, rng, [], 100 + rng.next() * 600), SR));
  }
  // With augmentation, as `kws train` defaults to: its time shifts show the model windows that
  // start or end in digital silence, which every stream's first windows are (zero-padded, as the
  // original's). Trained without it, the mfcc default's mel envelope (session 16) took the
  // zero-padded first window for a tone.
  const r = runKws(['train', '-d', data, '-n', 'tones', '--models-dir', path.join(tmp, 'models'), '--stats-dir', path.join(tmp, 'stats'), '--no-cache', '--epochs', '12', '--seed', '1'], {
    cwd: tmp,
    timeoutMs: 300_000,
  });
  assert.equal(r.status, 0, `kws train failed:\n${r.stderr}`);
  modelDir = path.join(tmp, 'models', 'tones');
  wavPath = path.join(tmp, 'tones.wav');
  fs.writeFileSync(
    wavPath,
    encodeWav(
      clip(8, rng, WORDS.map((w) => ({ freq: w.label === 'low' ? 440 : 3000, start: w.start_s, dur: w.end_s - w.start_s }))),
      SR,
    ),
  );
  fs.writeFileSync(path.join(tmp, 'tones.labels.json'), JSON.stringify(WORDS));
});

after(() => undefined);

function hitsOf(stdout: string): { label: string; t: number; probability: number; latency_ms: number }[] {
  return stdout
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => JSON.parse(l) as { label: string; t: number; probability: number; latency_ms: number });
}

function checkHits(hits: { label: string; t: number }[], context = ''): void {
  assert.deepEqual(hits.map((h) => h.label), ['low', 'high', 'low'], `${JSON.stringify(hits)}\n${context}`);
  hits.forEach((h, i) => {
    const w = WORDS[i] as (typeof WORDS)[number];
    assert.ok(h.t >= w.start_s && h.t <= w.end_s + 1.5, `hit ${i} at ${h.t} s for a word at ${w.start_s}-${w.end_s} s`);
  });
}

test('kws stream sends a WAV to kws serve and the expected hits come back', async () => {
  const { child, port } = await startServe(['--hop', '128']);
  try {
    const r = await runAsync(['stream', '-i', wavPath, '--fast', '--json', '-p', String(port), '--host', '127.0.0.1']);
    assert.equal(r.status, 0, r.stderr);
    const hits = hitsOf(r.stdout);
    checkHits(hits);
    for (const h of hits) assert.ok(h.latency_ms >= 0 && h.latency_ms < 5000);
    assert.match(r.stderr, /done after .* 0 lost/);
    // The original's output format, and real-time pace by default (8 s file -> >= 7 s).
    const t0 = Date.now();
    const plain = await runAsync(['stream', '-i', wavPath, '-p', String(port), '--host', '127.0.0.1']);
    assert.equal(plain.status, 0, plain.stderr);
    assert.ok(Date.now() - t0 >= 7000, `took ${Date.now() - t0} ms`);
    const lines = plain.stdout.trim().split('\n');
    assert.equal(lines.length, 3, plain.stdout);
    for (const l of lines) assert.match(l, /^hit \{'label': '(low|high)', 'probability': (0\.\d+|1)\}$/);
    // --legacy speaks the original protocol (raw datagrams, JSON replies) to the same server.
    // Its replies carry no time; the client counts them at the original's 0.256 s each, which
    // is twice this server's --hop 128, so a 3.5 s refractory here is 1.75 s of audio.
    const legacy = await runAsync(['stream', '--legacy', '-i', wavPath, '--fast', '--json', '--refractory', '3.5', '-p', String(port), '--host', '127.0.0.1']);
    assert.equal(legacy.status, 0, legacy.stderr);
    assert.match(legacy.stderr, /original protocol/);
    assert.deepEqual(hitsOf(legacy.stdout).map((h) => h.label), ['low', 'high', 'low']);
  } finally {
    assert.equal(await stopKwsServe(child), 0);
  }
});

test('the original client\'s raw 2048-byte datagrams get original-style replies', async () => {
  const { child, port } = await startServe([]);
  const sock = dgram.createSocket('udp4');
  const replies: string[] = [];
  sock.on('message', (m) => replies.push(m.toString()));
  await new Promise<void>((r) => sock.bind(0, '127.0.0.1', () => r()));
  try {
    const pcm = clip(2, createRng(3), [{ freq: 440, start: 0.5, dur: 0.5 }]);
    for (let i = 0; i + 1024 <= pcm.length; i += 1024) {
      await new Promise<void>((r) => sock.send(Buffer.from(int16ToPayload(pcm.subarray(i, i + 1024))), port, '127.0.0.1', () => r()));
      await new Promise((r) => setTimeout(r, 5));
    }
    const deadline = Date.now() + 5000;
    while (replies.length < 7 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    // 31 datagrams of 1024 samples, a window every 256 ms (4096 samples, 4 datagrams): 7 replies.
    assert.equal(replies.length, 7, replies.join('\n'));
    for (const r of replies) assert.match(r, /^\{"label": "(low|high|_background_)", "probability": [0-9.]+\}$/);
    assert.ok(replies.some((r) => r.includes('"low"')), replies.join('\n'));
  } finally {
    sock.close();
    await stopKwsServe(child);
  }
});

test('a burst of random, truncated, oversized and forged datagrams leaves the server up and an honest stream unaffected', async () => {
  const { child, port, stderr } = await startServe(['--hop', '128']);
  // From another loopback address, as another host would.
  const sock = dgram.createSocket('udp4');
  const replies: Buffer[] = [];
  sock.on('message', (m) => replies.push(m));
  await new Promise<void>((r) => sock.bind(0, '127.0.0.9', () => r()));
  try {
    // The honest client streams at the pace of a live microphone, as a real one would, so
    // only the flood competes with it (with --fast its own burst is the larger load).
    const honest = runAsync(['stream', '-i', wavPath, '--json', '-p', String(port), '--host', '127.0.0.1']);
    const rng = createRng(11);
    const sent: number[] = [];
    for (let i = 0; i < 4000; i++) {
      let b: Buffer;
      const kind = i % 5;
      if (kind === 0) b = Buffer.from(Array.from({ length: Math.floor(rng.next() * 1500) }, () => Math.floor(rng.next() * 256)));
      else if (kind === 1) b = encode({ type: MsgType.audio, format: SampleFormat.s16le, sessionId: 5, seq: i, sampleRate: 16000, offset: 0 }, Buffer.alloc(2048)).subarray(0, Math.floor(rng.next() * 60));
      else if (kind === 2) b = Buffer.alloc(40000 + Math.floor(rng.next() * 20000));
      else if (kind === 3) {
        b = encode({ type: MsgType.hello, format: SampleFormat.s16le, sessionId: 1 + (i % 300), seq: 0, sampleRate: 16000, offset: 0 }, Buffer.alloc(8));
        for (let k = 3; k < 28; k++) if (rng.next() < 0.2) b[k] = Math.floor(rng.next() * 256);
      } else b = Buffer.alloc(1 + 2 * Math.floor(rng.next() * 100));
      sent.push(b.length);
      await new Promise<void>((r) => sock.send(b, port, '127.0.0.1', () => r()));
      if (i % 100 === 0) await new Promise((r) => setTimeout(r, 2));
    }
    const r = await honest;
    assert.equal(r.status, 0, r.stderr);
    checkHits(hitsOf(r.stdout), `client:\n${r.stderr}\nserver:\n${stderr()}`);
    assert.equal(child.exitCode, null, `server died:\n${stderr()}`);
    // No reply to the attacker is larger than the largest datagram it sent.
    for (const m of replies) assert.ok(m.length <= Math.max(...sent));
    assert.doesNotMatch(stderr(), /internal error|datagram error/);
  } finally {
    sock.close();
    assert.equal(await stopKwsServe(child), 0);
  }
});

test('with --token, forged and replayed datagrams get no reply; the token holder is served', async () => {
  const token = 'test-token-123';
  const { child, port } = await startServe(['--token', token]);
  const sock = dgram.createSocket('udp4');
  const replies: Buffer[] = [];
  sock.on('message', (m) => replies.push(m));
  await new Promise<void>((r) => sock.bind(0, '127.0.0.1', () => r()));
  const send = (b: Buffer): Promise<void> => new Promise<void>((r) => sock.send(b, port, '127.0.0.1', () => r()));
  try {
    const ok = await runAsync(['stream', '-i', wavPath, '--fast', '--json', '-p', String(port), '--host', '127.0.0.1', '--token', token]);
    assert.equal(ok.status, 0, ok.stderr);
    checkHits(hitsOf(ok.stdout));
    // Without the token the client is told the server does not answer (exit 5).
    const no = await runAsync(['stream', '-i', wavPath, '--fast', '-p', String(port), '--host', '127.0.0.1']);
    assert.equal(no.status, 5, no.stderr);
    assert.match(no.stderr, /did not answer/);
    const good = createAuthenticator(token);
    const hello = encode({ type: MsgType.hello, format: SampleFormat.s16le, sessionId: 99, seq: 0, sampleRate: 16000, offset: 0 }, Buffer.alloc(MIN_HELLO_BYTES), good.sign);
    await send(hello);
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(replies.length, 1, 'a correctly signed HELLO is answered');
    replies.length = 0;
    await send(hello); // replayed
    await send(encode({ type: MsgType.hello, format: SampleFormat.s16le, sessionId: 98, seq: 0, sampleRate: 16000, offset: 0 }, Buffer.alloc(MIN_HELLO_BYTES), createAuthenticator('wrong-token').sign));
    await send(encode({ type: MsgType.hello, format: SampleFormat.s16le, sessionId: 97, seq: 0, sampleRate: 16000, offset: 0 }, Buffer.alloc(MIN_HELLO_BYTES)));
    for (let i = 0; i < 8; i++) await send(Buffer.from(int16ToPayload(new Int16Array(1024).fill(3000))));
    await new Promise((r) => setTimeout(r, 500));
    assert.equal(replies.length, 0);
  } finally {
    sock.close();
    await stopKwsServe(child);
  }
});

test('kws score measures recall and false hits; serve rejects a contradicting type flag', () => {
  const r = runKws(['score', wavPath, '-n', modelDir, '--json', '--hop', '128'], { cwd: tmp });
  assert.equal(r.status, 0, r.stderr);
  const rep = JSON.parse(r.stdout) as { recall: number; falseHits: number; keywords: number };
  assert.equal(rep.keywords, 3);
  assert.equal(rep.recall, 1);
  assert.equal(rep.falseHits, 0);
  // Saved results were smoothed by their server: --smooth with --hits is a mistake, said so.
  const hitsFile = path.join(tmp, 'saved-hits.jsonl');
  fs.writeFileSync(hitsFile, '{"label":"low","probability":0.9,"t":1.2}\n');
  const smoothHits = runKws(['score', wavPath, '--hits', hitsFile, '--smooth', '2'], { cwd: tmp });
  assert.equal(smoothHits.status, 2, smoothHits.stderr);
  assert.match(smoothHits.stderr, /--smooth applies only with -n MODEL/);
  const bad = runKws(['serve', '-n', modelDir, '-s'], { cwd: tmp });
  assert.equal(bad.status, 2);
  assert.match(bad.stderr, /-s says a spectrogram model, but .* is a mfcc model/);
  const missing = runKws(['serve', '-n', 'no-such-model'], { cwd: tmp });
  assert.equal(missing.status, 3);
  assert.doesNotMatch(missing.stderr, /at .*\.js/);
});

test('kws stream from the (virtual) microphone: hits while playing, Ctrl+C ends it cleanly', { skip: vmicSkip() }, async () => {
  const mic = startVirtualMic();
  const { child, port } = await startServe(['--hop', '128']);
  try {
    let streamer: ChildProcess | null = null;
    const run = runAsync(['stream', '--json', '-p', String(port), '--host', '127.0.0.1'], mic.env, (c) => (streamer = c));
    // Let the recorder start before the audio plays.
    await new Promise((r) => setTimeout(r, 2000));
    await mic.play(wavPath);
    await new Promise((r) => setTimeout(r, 1500));
    (streamer as ChildProcess | null)?.kill('SIGINT');
    const r = await run;
    assert.equal(r.status, 0, r.stderr);
    assert.deepEqual(hitsOf(r.stdout).map((h) => h.label), ['low', 'high', 'low'], r.stderr);
    assert.match(r.stderr, /microphone/);
  } finally {
    mic.stop();
    await stopKwsServe(child);
  }
});
