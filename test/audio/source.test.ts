import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { PassThrough } from 'node:stream';
import { makeTempDir } from '../helpers';
import { chooseRecorder, openAudioSource, openWavStream, type AudioSource } from '../../src/audio/source';
import { encodeWav, encodeWavFormat, floatToInt16, loadClip } from '../../src/audio/wav';
import { ExitCode, isUserError } from '../../src/util/errors';
import { sine } from './spectrum';

async function collect(source: AudioSource): Promise<Int16Array[]> {
  const out: Int16Array[] = [];
  for await (const c of source) out.push(c);
  return out;
}

function join(chunks: Int16Array[]): Int16Array {
  const n = chunks.reduce((s, c) => s + c.length, 0);
  const out = new Int16Array(n);
  let off = 0;
  for (const c of chunks) {
    out.set(c, off);
    off += c.length;
  }
  return out;
}

test('16 kHz mono 16-bit WAV: 1024-sample chunks carrying exactly the file samples', async () => {
  const dir = makeTempDir();
  const pcm = Int16Array.from({ length: 5000 }, (_, i) => ((i * 7919) % 65536) - 32768);
  const file = path.join(dir, 'a.wav');
  fs.writeFileSync(file, encodeWav(pcm, 16000));
  const src = await openAudioSource({ input: file });
  assert.match(src.description, /a\.wav/);
  const chunks = await collect(src);
  assert.deepEqual(chunks.map((c) => c.length), [1024, 1024, 1024, 1024, 904]);
  assert.deepEqual(join(chunks), pcm);
});

test('44.1 kHz stereo 24-bit WAV is converted to 16 kHz mono, same as loadClip (within 1 LSB)', async () => {
  const dir = makeTempDir();
  const left = sine(440, 44100, 1.3, 0.4);
  const right = sine(1250, 44100, 1.3, 0.2);
  const file = path.join(dir, 'st.wav');
  fs.writeFileSync(file, encodeWavFormat({ sampleRate: 44100, channels: 2, bitDepth: 24, sampleFormat: 'int', data: [left, right] }));
  const src = await openAudioSource({ input: file, chunkSamples: 512 });
  assert.match(src.description, /44100 Hz, 2 ch, 24-bit int -> 16000 Hz mono/);
  const got = join(await collect(src));
  const want = floatToInt16(await loadClip(file));
  assert.equal(got.length, want.length);
  assert.equal(got.length, Math.ceil((left.length * 16000) / 44100));
  let worst = 0;
  for (let i = 0; i < got.length; i++) worst = Math.max(worst, Math.abs((got[i] as number) - (want[i] as number)));
  assert.ok(worst <= 1, `largest difference ${worst}`);
});

test('realtime pace takes the audio duration; fast does not; stop() ends a paced file at once', async () => {
  const dir = makeTempDir();
  const file = path.join(dir, 'half.wav');
  fs.writeFileSync(file, encodeWav(new Int16Array(8000), 16000));
  let t0 = Date.now();
  await collect(await openAudioSource({ input: file, pace: 'realtime' }));
  const paced = Date.now() - t0;
  assert.ok(paced >= 450, `realtime read of 0.5 s took only ${paced} ms`);
  t0 = Date.now();
  const src = await openAudioSource({ input: file, pace: 'realtime' });
  let n = 0;
  for await (const c of src) {
    assert.ok(c.length > 0);
    if (++n === 2) src.stop();
  }
  assert.equal(n, 2);
  assert.ok(Date.now() - t0 < paced, 'stop() should end the paced read early');
});

test('stdin raw s16le 16 kHz: odd byte splits are reassembled exactly', async () => {
  const pcm = Int16Array.from({ length: 3000 }, (_, i) => (i % 200) * 100 - 10000);
  const bytes = Buffer.from(pcm.buffer);
  const stdin = new PassThrough();
  const src = await openAudioSource({ input: '-', stdin });
  const done = collect(src);
  for (let i = 0; i < bytes.length; i += 333) stdin.write(bytes.subarray(i, i + 333));
  stdin.end();
  const chunks = await done;
  assert.deepEqual(chunks.map((c) => c.length), [1024, 1024, 952]);
  assert.deepEqual(join(chunks), pcm);
});

test('stdin raw f32le 48 kHz stereo is mixed and resampled to 16 kHz', async () => {
  const n = 48000;
  const inter = new Float32Array(2 * n);
  const tone = sine(1000, 48000, 1, 0.5);
  for (let i = 0; i < n; i++) {
    inter[2 * i] = tone[i] as number;
    inter[2 * i + 1] = tone[i] as number;
  }
  const stdin = new PassThrough();
  const src = await openAudioSource({ input: '-', stdin, rate: 48000, format: 'f32le', channels: 2 });
  assert.match(src.description, /f32le, 48000 Hz, 2 ch/);
  const done = collect(src);
  stdin.end(Buffer.from(inter.buffer));
  const got = join(await done);
  assert.equal(got.length, 16000);
  // Every third output sample lands on an input sample: compare there, away from the ends.
  for (let k = 100; k < 15900; k += 131) assert.ok(Math.abs((got[k] as number) - 16384 * Math.sin((2 * Math.PI * 1000 * k) / 16000)) <= 3, `sample ${k}`);
});

test('stop() ends a stdin source whose pipe stays open', async () => {
  const stdin = new PassThrough();
  const src = await openAudioSource({ input: '-', stdin });
  stdin.write(Buffer.alloc(4096));
  const seen: number[] = [];
  setTimeout(() => src.stop(), 100);
  for await (const c of src) seen.push(c.length);
  assert.deepEqual(seen, [1024, 1024]);
});

test('a missing or corrupt input file is an input error naming it', async () => {
  const dir = makeTempDir();
  await assert.rejects(openAudioSource({ input: path.join(dir, 'nope.wav') }), (e: unknown) => isUserError(e) && e.exitCode === ExitCode.input && e.message.includes('nope.wav'));
  const bad = path.join(dir, 'bad.wav');
  fs.writeFileSync(bad, 'not audio at all');
  await assert.rejects(openAudioSource({ input: bad }), (e: unknown) => isUserError(e) && e.message.includes('bad.wav') && e.message.includes('not a WAV file'));
});

test('a missing recorder is a dependency error naming the package to install, not spawn ENOENT', async () => {
  const empty = makeTempDir();
  for (const [rec, pkg] of [
    ['arecord', 'alsa-utils'],
    ['rec', 'brew install sox'],
    ['sox', 'apt install sox'],
  ] as const) {
    assert.throws(
      () => chooseRecorder(rec, { PATH: empty }),
      (e: unknown) => isUserError(e) && e.exitCode === ExitCode.dependency && e.message.includes(`\`${rec}\` is not installed`) && (e.hint ?? '').includes(pkg),
    );
  }
  assert.throws(() => chooseRecorder('auto', { PATH: empty }), (e: unknown) => isUserError(e) && e.exitCode === ExitCode.dependency && (e.hint ?? '').includes('choco install sox'));
  const saved = process.env.PATH;
  process.env.PATH = empty;
  try {
    await assert.rejects(openAudioSource({ recorder: 'arecord' }), (e: unknown) => isUserError(e) && e.exitCode === ExitCode.dependency);
  } finally {
    process.env.PATH = saved;
  }
});

/** A readable that hands over `bytes` in pieces of `size`, like a pipe. */
function pipeOf(bytes: Buffer, size: number): PassThrough {
  const p = new PassThrough();
  (async () => {
    for (let i = 0; i < bytes.length; i += size) {
      if (p.destroyed) return; // the reader stopped early (declared size reached)
      p.write(bytes.subarray(i, i + size));
      await new Promise((r) => setImmediate(r));
    }
    if (!p.destroyed) p.end();
  })().catch((e: unknown) => p.destroy(e as Error));
  return p;
}

async function pieces(raw: { pieces: AsyncIterable<Int16Array> }): Promise<Int16Array> {
  const out: Int16Array[] = [];
  for await (const p of raw.pieces) out.push(p);
  return join(out);
}

test('a WAV on a pipe is read as a stream: same samples as the file, in any piece size, header split anywhere', async () => {
  const dir = makeTempDir();
  const left = sine(440, 44100, 0.5, 0.4);
  const right = sine(1250, 44100, 0.5, 0.2);
  const file = path.join(dir, 'st.wav');
  const bytes = encodeWavFormat({ sampleRate: 44100, channels: 2, bitDepth: 24, sampleFormat: 'int', data: [left, right] });
  fs.writeFileSync(file, bytes);
  const want = join(await collect(await openAudioSource({ input: file })));
  for (const size of [1, 7, 13, 4096, bytes.length]) {
    const raw = await openWavStream('pipe', pipeOf(bytes, size), {}, () => false);
    assert.match(raw.description, /^pipe pipe \(44100 Hz, 2 ch, 24-bit int -> 16000 Hz mono\)/);
    assert.deepEqual(await pieces(raw), want, `piece size ${size}`);
  }
});

test('a piped WAV stops at the size its header declares, or reads to the end when the size was never written', async () => {
  const pcm = Int16Array.from({ length: 3000 }, (_, i) => (i * 37) % 20000);
  const wav = encodeWav(pcm, 16000);
  const junk = Buffer.alloc(1000, 0x55);
  const declared = await openWavStream('p', pipeOf(Buffer.concat([wav, junk]), 500), {}, () => false);
  assert.deepEqual(await pieces(declared), pcm, 'bytes after the declared data are not audio');
  const streamed = Buffer.from(wav);
  streamed.writeUInt32LE(0xffffffff, 40);
  const open = await openWavStream('p', pipeOf(streamed, 333), {}, () => false);
  assert.deepEqual(await pieces(open), pcm);
});

test('a pipe with nothing or not a WAV on it is an input error naming it', async () => {
  await assert.rejects(openWavStream('/dev/fd/63', pipeOf(Buffer.alloc(0), 1), {}, () => false), (e: unknown) => isUserError(e) && e.exitCode === ExitCode.input && /\/dev\/fd\/63: the pipe delivered no data/.test(e.message));
  await assert.rejects(openWavStream('/dev/stdin', pipeOf(Buffer.from('hello, this is text\n'), 4), {}, () => false), (e: unknown) => isUserError(e) && /\/dev\/stdin: not a WAV file/.test(e.message));
});

test('a real FIFO given as --input is read as a WAV stream', { skip: process.platform === 'win32' ? 'no FIFOs on Windows' : false }, async () => {
  const dir = makeTempDir();
  const pcm = Int16Array.from({ length: 5000 }, (_, i) => ((i * 7919) % 65536) - 32768);
  const fifo = path.join(dir, 'fifo');
  execFileSync('mkfifo', [fifo]);
  const writer = spawn('sh', ['-c', 'cat > "$1"', 'sh', fifo], { stdio: ['pipe', 'ignore', 'inherit'] });
  writer.stdin.end(encodeWav(pcm, 16000));
  const src = await openAudioSource({ input: fifo });
  assert.match(src.description, /^pipe .*fifo \(16000 Hz, 1 ch, 16-bit int\)/);
  assert.deepEqual(join(await collect(src)), pcm);
});
