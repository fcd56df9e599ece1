/**
 * End to end: the real `kws` binary records, measures and cuts clips from real WAV
 * files and from a pipe, and survives SIGINT/SIGTERM leaving only valid WAV files.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { spawn, spawnSync } from 'node:child_process';
import { distRoot, kwsBin, makeTempDir, runKws, spawnKws } from '../helpers';
import { decodeWav, encodeWav, encodeWavFormat } from '../../src/audio/wav';
import { rmsInt } from '../../src/audio/level';
import { createRng } from '../../src/util/rng';

const RATE = 16000;
const CHUNK = 1024;

/** Room noise (integer RMS ~6) with vowel-like bursts (200 Hz + harmonics) at the given spans. */
function session(total: number, bursts: [number, number][], seed = 7): Int16Array {
  const rng = createRng(seed);
  const x = new Int16Array(total);
  for (let i = 0; i < total; i++) x[i] = Math.round(6 * rng.normal());
  for (const [a, b] of bursts) {
    for (let i = a; i < b; i++) {
      const t = i / RATE;
      const env = Math.min(1, (i - a) / 400, (b - i) / 400);
      x[i] = Math.round(env * (6000 * Math.sin(2 * Math.PI * 200 * t) + 3000 * Math.sin(2 * Math.PI * 400 * t) + 1500 * Math.sin(2 * Math.PI * 800 * t)));
    }
  }
  return x;
}

const BURSTS: [number, number][] = [
  [12_000, 20_000],
  [40_000, 54_000],
  [75_000, 81_000],
];

function wavFiles(dir: string): string[] {
  return fs.existsSync(dir) ? fs.readdirSync(dir).filter((f) => f.endsWith('.wav')).sort() : [];
}

/** Decode with our reader and check the header agrees with the file size (a finished WAV). */
function readValid(file: string): Int16Array {
  const buf = fs.readFileSync(file);
  assert.equal(buf.readUInt32LE(4), buf.length - 8, `${file}: RIFF size`);
  assert.equal(buf.readUInt32LE(40), buf.length - 44, `${file}: data size`);
  const w = decodeWav(buf, file);
  assert.equal(w.sampleRate, 16000);
  assert.equal(w.channels, 1);
  assert.equal(w.bitDepth, 16);
  return Int16Array.from(w.data[0] as Float32Array, (v) => Math.round(v * 32768));
}

function indexOf(hay: Int16Array, needle: Int16Array): number {
  const first = needle[0];
  outer: for (let i = 0; i + needle.length <= hay.length; i++) {
    if (hay[i] !== first) continue;
    for (let j = 1; j < needle.length; j++) if (hay[i + j] !== needle[j]) continue outer;
    return i;
  }
  return -1;
}

test('kws record LABEL --input FILE writes one exact clip per sound, then maxlen reports them', () => {
  const cwd = makeTempDir();
  const x = session(100_000, BURSTS);
  // 16 kHz mono, so each clip can be found in the input sample for sample.
  fs.writeFileSync(path.join(cwd, 'session.wav'), encodeWav(x, RATE));
  const r = runKws(['record', 'yes', '--input', 'session.wav'], { cwd });
  assert.equal(r.status, 0, r.stderr);
  const dir = path.join(cwd, 'predata', 'yes');
  const files = wavFiles(dir);
  assert.equal(files.length, 3, `files: ${files.join(', ')}\n${r.stderr}`);
  assert.equal(r.stdout.trim().split('\n').length, 3);
  for (const f of files) {
    assert.match(f, /^[A-Z0-9]{8}_\d{3}\.wav$/);
    assert.ok(r.stdout.includes(f), `stdout should name ${f}`);
  }
  assert.match(r.stdout, /saved predata\/yes\/[A-Z0-9]{8}_001\.wav {2}\d+\.\d{3} s {2}peak -?\d+\.\d dBFS/);
  let longest = 0;
  files.forEach((f, i) => {
    const clip = readValid(path.join(dir, f));
    const at = indexOf(x, clip);
    assert.ok(at >= 0, `${f} is not a piece of the input`);
    const [a, b] = BURSTS[i] as [number, number];
    // Default pre-roll and post-roll: 2 chunks each, at chunk resolution.
    assert.ok(at <= a - CHUNK && at > a - 4 * CHUNK, `${f} starts at ${at}, sound at ${a}`);
    assert.ok(at + clip.length >= b + CHUNK && at + clip.length < b + 4 * CHUNK, `${f} ends at ${at + clip.length}, sound ends ${b}`);
    longest = Math.max(longest, clip.length);
  });
  assert.deepEqual(fs.readdirSync(dir).filter((f) => !f.endsWith('.wav')), [], 'no temporary files left');

  const m = runKws(['maxlen'], { cwd });
  assert.equal(m.status, 0, m.stderr);
  assert.match(m.stdout, new RegExp(`^${longest} samples \\(${(longest / RATE).toFixed(3)} s\\): predata/yes/`));
  const j = runKws(['maxlen', '--json'], { cwd });
  const info = JSON.parse(j.stdout) as { maxSamples: number; clips: number; outliers: unknown[] };
  assert.equal(info.maxSamples, longest);
  assert.equal(info.clips, 3);
  assert.deepEqual(info.outliers, []);

  // A second session never overwrites the first.
  const again = runKws(['record', 'yes', '--input', 'session.wav', '--json'], { cwd });
  assert.equal(again.status, 0, again.stderr);
  assert.equal(wavFiles(dir).length, 6);
  const lines = again.stdout.trim().split('\n').map((l) => JSON.parse(l) as { file: string; samples: number; reason: string });
  assert.equal(lines.length, 3);
  assert.ok(lines.every((l) => l.reason === 'quiet' && fs.existsSync(path.join(cwd, l.file))));
});

test('a 44.1 kHz stereo 24-bit session is converted and split the same way', () => {
  const cwd = makeTempDir();
  const x = session(100_000, BURSTS);
  // Upsample by holding each 16 kHz sample: crude, but the bursts stay where they were in time.
  const n = Math.floor((x.length * 44100) / RATE);
  const left = new Float32Array(n);
  for (let i = 0; i < n; i++) left[i] = (x[Math.floor((i * RATE) / 44100)] as number) / 32768;
  const right = left.map((v) => -v * 0.5); // out of phase: the mono mix is half the left channel
  fs.writeFileSync(path.join(cwd, 'hi.wav'), encodeWavFormat({ sampleRate: 44100, channels: 2, bitDepth: 24, sampleFormat: 'int', data: [left, right] }));
  const r = runKws(['record', 'hi', '--input', 'hi.wav', '--json'], { cwd });
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stderr, /44100 Hz, 2 ch, 24-bit int -> 16000 Hz mono/);
  const clips = r.stdout.trim().split('\n').map((l) => JSON.parse(l) as { file: string; startSeconds: number; samples: number });
  assert.equal(clips.length, 3);
  clips.forEach((c, i) => {
    const [a, b] = BURSTS[i] as [number, number];
    const start = c.startSeconds * RATE;
    assert.ok(start <= a - CHUNK && start > a - 4 * CHUNK, `clip ${i} starts at ${start}, sound at ${a}`);
    assert.ok(start + c.samples >= b + CHUNK && start + c.samples < b + 4 * CHUNK, `clip ${i} ends at ${start + c.samples}`);
    readValid(path.join(cwd, c.file));
  });
});

test('kws maxlen warns about a clip far longer than the rest and names it; bad files are named', () => {
  const cwd = makeTempDir();
  const d = path.join(cwd, 'predata', 'a');
  fs.mkdirSync(d, { recursive: true });
  for (let i = 0; i < 4; i++) fs.writeFileSync(path.join(d, `c${i}.wav`), encodeWav(new Int16Array(8000 + i), RATE));
  fs.writeFileSync(path.join(d, 'stray.wav'), encodeWavFormat({ sampleRate: 44100, channels: 2, bitDepth: 16, sampleFormat: 'int', data: [new Float32Array(441000), new Float32Array(441000)] }));
  const r = runKws(['maxlen'], { cwd });
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /^160000 samples \(10\.000 s\): predata\/a\/stray\.wav/);
  assert.match(r.stderr, /warning: 1 clip is more than 2x the median/);
  assert.match(r.stderr, /predata\/a\/stray\.wav {2}160000 samples/);
  fs.writeFileSync(path.join(d, 'broken.wav'), 'RIFF....WAVEjunk');
  const b = runKws(['maxlen', '--json'], { cwd });
  assert.equal(b.status, 3);
  assert.match(b.stderr, /broken\.wav/);
  assert.equal((JSON.parse(b.stdout) as { maxSamples: number }).maxSamples, 160000);
});

test('kws fixed and kws record --fixed write clips of exactly N samples; the cut-off remainder is discarded', () => {
  const cwd = makeTempDir();
  const x = session(100_000, BURSTS);
  fs.writeFileSync(path.join(cwd, 'session.wav'), encodeWav(x, RATE));
  const r = runKws(['fixed', 'go', '7000', '--input', 'session.wav'], { cwd });
  assert.equal(r.status, 0, r.stderr);
  const dir = path.join(cwd, 'predata', 'go');
  const files = wavFiles(dir);
  assert.equal(files.length, Math.floor(100_000 / 7000));
  files.forEach((f, i) => {
    const clip = readValid(path.join(dir, f));
    assert.equal(clip.length, 7000);
    assert.deepEqual(clip, x.slice(7000 * i, 7000 * (i + 1)), `${f} should be samples ${7000 * i}..`);
  });
  assert.match(r.stderr, /Discarded the unfinished clip \(2000 of 7000 samples\)/);

  const r2 = runKws(['record', 'stop', '--fixed', '5000', '--input', 'session.wav'], { cwd });
  assert.equal(r2.status, 0, r2.stderr);
  const f2 = wavFiles(path.join(cwd, 'predata', 'stop'));
  assert.equal(f2.length, 20);
  for (const f of f2) assert.equal(readValid(path.join(cwd, 'predata', 'stop', f)).length, 5000);

  // No N: the longest clip under predata/ (7000 here).
  const r3 = runKws(['fixed', 'onsets', '--onset', '--input', 'session.wav', '--json'], { cwd });
  assert.equal(r3.status, 0, r3.stderr);
  const saved = r3.stdout.trim().split('\n').map((l) => JSON.parse(l) as { file: string; samples: number; startSeconds: number });
  assert.equal(saved.length, 3);
  saved.forEach((s, i) => {
    assert.equal(s.samples, 7000);
    const start = s.startSeconds * RATE;
    const [a] = BURSTS[i] as [number, number];
    assert.ok(start <= a && start > a - 2 * CHUNK, `onset clip ${i} starts at ${start}, sound at ${a}`);
  });
});

test('kws rms prints the original integer figure per chunk; --json; --save writes kws.json that record uses', () => {
  const cwd = makeTempDir();
  const x = session(10_000, [[3000, 6000]]);
  fs.writeFileSync(path.join(cwd, 'a.wav'), encodeWav(x, RATE));
  const r = runKws(['rms', '--input', 'a.wav'], { cwd });
  assert.equal(r.status, 0, r.stderr);
  const lines = r.stdout.trim().split('\n');
  assert.equal(lines.length, Math.ceil(10_000 / CHUNK));
  lines.forEach((l, i) => {
    const m = /^rms: {2}(\d+) {2}(-?\d+\.\d|-inf) dBFS$/.exec(l);
    assert.ok(m, l);
    assert.equal(Number(m[1]), rmsInt(x.subarray(i * CHUNK, (i + 1) * CHUNK)));
  });
  const j = runKws(['rms', '--input', 'a.wav', '--json'], { cwd });
  const first = JSON.parse(j.stdout.split('\n')[0] as string) as { rms: number; dbfs: number; loud: boolean; t: number };
  assert.equal(first.rms, rmsInt(x.subarray(0, CHUNK)));
  assert.equal(first.t, CHUNK / RATE);
  assert.equal(first.loud, false);

  // Room noise at integer RMS ~40: the suggestion must sit above all of it.
  const rng = createRng(3);
  const noise = Int16Array.from({ length: 3 * RATE }, () => Math.round(40 * rng.normal()));
  fs.writeFileSync(path.join(cwd, 'room.wav'), encodeWav(noise, RATE));
  const s = runKws(['rms', '--save', '--input', 'room.wav'], { cwd });
  assert.equal(s.status, 0, s.stderr);
  const saved = JSON.parse(fs.readFileSync(path.join(cwd, 'kws.json'), 'utf8')) as { silenceThreshold: number };
  let loudest = 0;
  for (let i = 0; i < noise.length; i += CHUNK) loudest = Math.max(loudest, rmsInt(noise.subarray(i, i + CHUNK)));
  assert.ok(saved.silenceThreshold > loudest, `threshold ${saved.silenceThreshold} vs loudest noise chunk ${loudest}`);
  assert.match(s.stdout, /silenceThreshold \d+ saved to kws\.json/);
  const rec = runKws(['record', 'room', '--input', 'room.wav'], { cwd });
  assert.equal(rec.status, 0, rec.stderr);
  assert.match(rec.stderr, new RegExp(`Silence threshold ${saved.silenceThreshold} \\(from .*kws\\.json\\)`));
  assert.equal(wavFiles(path.join(cwd, 'predata', 'room')).length, 0, 'noise below the saved threshold makes no clips');
});

/** Wait until `pred` holds for the text a stream has produced. */
function waitFor(stream: NodeJS.ReadableStream, pred: (all: string) => boolean, ms: number): Promise<string> {
  return new Promise((resolve, reject) => {
    let all = '';
    const timer = setTimeout(() => reject(new Error(`timed out; got:\n${all}`)), ms);
    stream.on('data', (d: Buffer) => {
      all += d.toString();
      if (pred(all)) {
        clearTimeout(timer);
        resolve(all);
      }
    });
  });
}

function exitOf(child: ReturnType<typeof spawnKws>): Promise<number | null> {
  return new Promise((resolve) => child.on('close', (code) => resolve(code)));
}

test('SIGINT in the middle of a sound: the clip in progress is saved, exit 0, only valid WAVs', async () => {
  const cwd = makeTempDir();
  const x = session(60_000, [
    [8_000, 16_000],
    [30_000, 60_000], // still sounding when the signal comes
  ]);
  const child = spawnKws(['record', 'yes', '--input', '-'], { cwd });
  const stderr: string[] = [];
  child.stderr?.on('data', (d: Buffer) => stderr.push(d.toString()));
  const exited = exitOf(child);
  const firstSaved = waitFor(child.stdout as NodeJS.ReadableStream, (s) => s.includes('saved'), 20_000);
  child.stdin?.write(Buffer.from(x.buffer, 0, 2 * 45_000));
  const out = await firstSaved;
  await new Promise((r) => setTimeout(r, 500)); // let it read everything written so far
  child.kill('SIGINT');
  const code = await exited;
  assert.equal(code, 0, stderr.join(''));
  const dir = path.join(cwd, 'predata', 'yes');
  const files = wavFiles(dir);
  assert.equal(files.length, 2, `${out}\n${stderr.join('')}`);
  const second = readValid(path.join(dir, files[1] as string));
  const at = indexOf(x, second);
  assert.ok(at > 30_000 - 4 * CHUNK && at < 30_000, `second clip starts at ${at}`);
  assert.equal(at + second.length, 45_000, 'the clip in progress runs to the last sample read');
  assert.deepEqual(fs.readdirSync(dir).filter((f) => !f.endsWith('.wav')), []);
  assert.match(stderr.join(''), /Ctrl\+C: saving the clip in progress/);
});

test('SIGTERM during kws fixed discards the unfinished clip and exits 0', async () => {
  const cwd = makeTempDir();
  const child = spawnKws(['fixed', 'no', '4000', '--input', '-'], { cwd });
  const exited = exitOf(child);
  const saved = waitFor(child.stdout as NodeJS.ReadableStream, (s) => (s.match(/saved/g) ?? []).length >= 2, 20_000);
  child.stdin?.write(Buffer.from(session(10_000, [[0, 10_000]]).buffer));
  await saved;
  await new Promise((r) => setTimeout(r, 200));
  child.kill('SIGTERM');
  assert.equal(await exited, 0);
  const dir = path.join(cwd, 'predata', 'no');
  const files = wavFiles(dir);
  assert.equal(files.length, 2);
  for (const f of files) assert.equal(readValid(path.join(dir, f)).length, 4000);
});

test('user mistakes: clear message, right exit code, no stack trace', () => {
  const cwd = makeTempDir();
  fs.writeFileSync(path.join(cwd, 'text.wav'), 'hello');
  const cases: [string[], number, RegExp][] = [
    [['record', 'yes', '--input', 'missing.wav'], 3, /missing\.wav: no such file/],
    [['record', 'yes', '--input', 'text.wav'], 3, /text\.wav: not a WAV file/],
    [['rms', '--input', 'text.wav'], 3, /text\.wav/],
    [['maxlen', '--dir', 'nowhere'], 3, /nowhere: no such folder/],
    [['fixed', 'x', '--input', 'text.wav'], 3, /no clip length given/],
    [['record', '../evil'], 2, /cannot be a label/],
    [['record', 'yes', '--quiet-chunks', '0'], 2, /--quiet-chunks must be a whole number/],
    [['rms', '--input', '-', '--format', 'mp3'], 2, /Allowed choices are/],
    [['record', 'yes', '--recorder', 'arecord'], 4, /`arecord` is not installed/],
  ];
  for (const [args, code, re] of cases) {
    const r = runKws(args, { cwd, env: { PATH: cwd } });
    assert.equal(r.status, code, `kws ${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, re, `kws ${args.join(' ')}`);
    assert.doesNotMatch(r.stderr, /\n\s+at /, `stack trace from kws ${args.join(' ')}`);
  }
  const rec = runKws(['record', 'yes', '--recorder', 'arecord'], { cwd, env: { PATH: cwd } });
  assert.match(rec.stderr, /alsa-utils/);
});

test('every recording command has --help with defaults and examples', () => {
  for (const cmd of ['rms', 'record', 'maxlen', 'fixed']) {
    const r = runKws([cmd, '--help']);
    assert.equal(r.status, 0);
    assert.match(r.stdout, /Examples:\n {2}\$ kws /);
    if (cmd !== 'maxlen') assert.match(r.stdout, /--input <file>/);
  }
  assert.match(runKws(['record', '--help']).stdout, /--quiet-chunks <n>.*\(default: 7\)/s);
});

test('a WAV piped to --input /dev/stdin, or through a FIFO, is split exactly like the file', { skip: process.platform === 'win32' ? 'no /dev/stdin or FIFOs on Windows' : false }, () => {
  const cwd = makeTempDir();
  const x = session(100_000, BURSTS);
  const wav = encodeWav(x, RATE);
  fs.writeFileSync(path.join(cwd, 'session.wav'), wav);
  const fromFile = runKws(['record', 'f', '--input', 'session.wav', '--json'], { cwd });
  const fromPipe = runKws(['record', 'p', '--input', '/dev/stdin', '--json'], { cwd, input: wav });
  assert.equal(fromPipe.status, 0, fromPipe.stderr);
  assert.match(fromPipe.stderr, /from pipe \/dev\/stdin \(16000 Hz, 1 ch, 16-bit int\)/);
  const starts = (out: string): number[] => out.trim().split('\n').map((l) => (JSON.parse(l) as { startSeconds: number }).startSeconds);
  assert.deepEqual(starts(fromPipe.stdout), starts(fromFile.stdout));
  assert.equal(starts(fromPipe.stdout).length, 3);

  const fifo = path.join(cwd, 'fifo');
  spawnSync('mkfifo', [fifo]);
  const writer = spawn('sh', ['-c', 'cat session.wav > fifo'], { cwd, stdio: 'ignore' });
  const viaFifo = runKws(['record', 'q', '--input', 'fifo', '--json'], { cwd });
  writer.kill();
  assert.equal(viaFifo.status, 0, viaFifo.stderr);
  assert.deepEqual(starts(viaFifo.stdout), starts(fromFile.stdout));

  const empty = runKws(['record', 'e', '--input', '/dev/stdin'], { cwd, input: '' });
  assert.equal(empty.status, 3);
  assert.match(empty.stderr, /\/dev\/stdin: the pipe delivered no data \(0 bytes\)/);
});

test('clips dropped by --min-sound: the advice is about --min-sound, not the threshold', () => {
  const cwd = makeTempDir();
  fs.writeFileSync(path.join(cwd, 'session.wav'), encodeWav(session(100_000, BURSTS), RATE));
  const r = runKws(['record', 'm', '--input', 'session.wav', '--min-sound', '2'], { cwd });
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stderr, /0 clips saved in predata\/m\/ \(3 dropped: sound shorter than --min-sound 2 s\)/);
  assert.match(r.stderr, /lower --min-sound/);
  assert.doesNotMatch(r.stderr, /threshold 30\. Check the level|lower --threshold/);
  // Silence, by contrast, points at the threshold.
  fs.writeFileSync(path.join(cwd, 'quiet.wav'), encodeWav(session(20_000, []), RATE));
  const q = runKws(['record', 'q', '--input', 'quiet.wav'], { cwd });
  assert.match(q.stderr, /No sound rose above the threshold 30 \(the loudest chunk was [0-9]\)/);
});

test('a flag that cannot apply is a usage error (exit 2) before anything is opened or printed', () => {
  const cwd = makeTempDir();
  fs.writeFileSync(path.join(cwd, 'session.wav'), encodeWav(session(20_000, []), RATE));
  const w = ['--input', 'session.wav'];
  const cases: [string[], RegExp][] = [
    [['record', 'l', ...w, '--rate', '8000'], /--rate does not apply here: .*raw PCM on stdin/],
    [['record', 'l', ...w, '--format', 'u8'], /--format does not apply/],
    [['rms', ...w, '--channels', '2'], /--channels does not apply/],
    [['rms', '--rate', '8000'], /--rate does not apply.*microphone/],
    [['record', 'l', ...w, '--recorder', 'sox'], /--recorder does not apply/],
    [['fixed', 'l', '100', ...w, '--device', 'hw:1'], /--device does not apply/],
    [['record', 'l', '--realtime'], /--realtime does not apply.*microphone is always live/],
    [['record', 'l', ...w, '--countdown', '5'], /--countdown does not apply here: it only applies with --fixed/],
    [['record', 'l', ...w, '--onset'], /--onset does not apply here: it only applies with --fixed/],
    [['record', 'l', ...w, '--fixed', '100', '--countdown', '1'], /--countdown does not apply here: the countdown is for the microphone only/],
    [['record', 'l', ...w, '--fixed', '100', '--quiet-chunks', '3'], /--quiet-chunks does not apply/],
    [['record', 'l', ...w, '--fixed', '100', '--threshold', '3'], /--threshold does not apply here: with --fixed the threshold only applies with --onset/],
    [['fixed', 'l', '100', ...w, '--pre-roll', '3'], /--pre-roll does not apply here: it only applies with --onset/],
    [['fixed', 'l', '100', ...w, '--threshold', '3'], /--threshold does not apply here: it only applies with --onset/],
    [['record', 'l', ...w, '--post-roll', '9'], /--post-roll 9 is longer than --quiet-chunks 7/],
  ];
  for (const [args, re] of cases) {
    const r = runKws(args, { cwd, env: { PATH: cwd } });
    assert.equal(r.status, 2, `kws ${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, re, `kws ${args.join(' ')}`);
    assert.doesNotMatch(r.stderr, /Recording|Level of/, `kws ${args.join(' ')} started before refusing`);
    assert.equal(r.stdout, '');
  }
  assert.ok(!fs.existsSync(path.join(cwd, 'predata')), 'no folder was created');
  // The same flags where they do apply are accepted; a default post-roll is fitted to --quiet-chunks 1.
  const ok = runKws(['record', 'l', '--input', '-', '--rate', '8000', '--format', 'u8', '--quiet-chunks', '1'], { cwd, input: Buffer.alloc(8000, 128) });
  assert.equal(ok.status, 0, ok.stderr);
  assert.match(ok.stderr, /a clip ends after 1 quiet chunk\./);
  const fx = runKws(['fixed', 'l', '100', ...w, '--onset', '--pre-roll', '3', '--threshold', '5'], { cwd });
  assert.equal(fx.status, 0, fx.stderr);
});

test('nothing is created when the source cannot open; a folder that cannot take files fails before recording', () => {
  const cwd = makeTempDir();
  const miss = runKws(['record', 'yes', '--input', 'missing.wav'], { cwd });
  assert.equal(miss.status, 3);
  const noRec = runKws(['fixed', 'yes', '100', '--recorder', 'arecord'], { cwd, env: { PATH: cwd } });
  assert.equal(noRec.status, 4);
  assert.ok(!fs.existsSync(path.join(cwd, 'predata')), 'predata/ created for a source that never opened');

  fs.writeFileSync(path.join(cwd, 'session.wav'), encodeWav(session(100_000, BURSTS), RATE));
  fs.writeFileSync(path.join(cwd, 'afile'), 'x');
  const blocked = runKws(['record', 'yes', '--input', 'session.wav', '--dir', 'afile'], { cwd });
  assert.equal(blocked.status, 3);
  assert.match(blocked.stderr, /^kws: afile\/yes: cannot create the folder: a file is in the way/m);
  assert.doesNotMatch(blocked.stderr, /Recording|\n\s+at /);
});

test('a read-only label folder is refused before recording starts (run as an unprivileged user)', (t) => {
  const cwd = makeTempDir();
  const asNobody = process.getuid?.() === 0 && spawnSync('runuser', ['-u', 'nobody', '--', process.execPath, '-e', '0']).status === 0;
  if (process.platform === 'win32' || (process.getuid?.() === 0 && !asNobody)) {
    t.skip('root without runuser/nobody (or Windows): permission bits cannot deny root; see test/audio/clipwriter.test.ts');
    return;
  }
  fs.chmodSync(cwd, 0o755);
  fs.writeFileSync(path.join(cwd, 'session.wav'), encodeWav(session(100_000, BURSTS), RATE), { mode: 0o644 });
  fs.mkdirSync(path.join(cwd, 'ro', 'lab'), { recursive: true, mode: 0o755 });
  fs.chmodSync(path.join(cwd, 'ro', 'lab'), 0o555);
  const args = [kwsBin, 'record', 'lab', '--input', 'session.wav', '--dir', 'ro'];
  const r = asNobody
    ? spawnSync('runuser', ['-u', 'nobody', '--', 'env', `KWS_DIST=${distRoot}`, process.execPath, ...args], { cwd, encoding: 'utf8' })
    : spawnSync(process.execPath, args, { cwd, encoding: 'utf8', env: { ...process.env, KWS_DIST: distRoot } });
  assert.equal(r.status, 3, r.stderr);
  assert.match(r.stderr, /^kws: ro\/lab: cannot write in the folder: permission denied/m);
  assert.doesNotMatch(r.stderr, /Recording|\n\s+at /);
  assert.equal(r.stdout, '');
});

test('the recorder dying mid-session: the clip in progress is saved, the summary printed, then the error (exit 4)', { skip: process.platform === 'win32' ? 'uses a shell-script recorder' : false }, () => {
  const cwd = makeTempDir();
  const bin = path.join(cwd, 'bin');
  fs.mkdirSync(bin);
  // A stand-in for `rec`: delivers 2.5 s of audio, still sounding at the end, then fails
  // the way a recorder does when its sound server is killed.
  const x = session(40_000, [
    [5_000, 12_000],
    [25_000, 40_000],
  ]);
  fs.writeFileSync(path.join(bin, 'audio.raw'), Buffer.from(x.buffer));
  fs.writeFileSync(path.join(bin, 'rec'), '#!/bin/sh\ncat "$(dirname "$0")/audio.raw"\necho "rec FAIL: pulseaudio: connection terminated" >&2\nexit 1\n', { mode: 0o755 });
  const env = { PATH: `${bin}${path.delimiter}${process.env.PATH ?? ''}` };
  const r = runKws(['record', 'yes', '--recorder', 'rec', '--json'], { cwd, env });
  assert.equal(r.status, 4, r.stderr);
  const clips = r.stdout.trim().split('\n').map((l) => JSON.parse(l) as { file: string; reason: string; samples: number; startSeconds: number });
  assert.equal(clips.length, 2, r.stderr);
  assert.equal(clips[1]?.reason, 'end-of-input');
  const last = readValid(path.join(cwd, clips[1]?.file as string));
  assert.equal(indexOf(x, last) + last.length, 40_000, 'the partial clip runs to the last sample the recorder delivered');
  const summary = r.stderr.indexOf('2 clips saved in predata/yes/');
  const failure = r.stderr.indexOf('kws: the microphone recorder `rec` exited with code 1');
  assert.ok(summary >= 0 && failure > summary, r.stderr);
  assert.match(r.stderr, /pulseaudio: connection terminated/);

  const f = runKws(['fixed', 'no', '16000', '--recorder', 'rec', '--countdown', '0'], { cwd, env });
  assert.equal(f.status, 4, f.stderr);
  assert.equal(wavFiles(path.join(cwd, 'predata', 'no')).length, 2);
  assert.match(f.stderr, /Discarded the unfinished clip \(8000 of 16000 samples\)\.\n2 clips of 16000 samples saved in predata\/no\/\nkws: the microphone recorder `rec` exited/);
});

test('kws rms --save warns when the room was not quiet; KWS_CONFIG naming a missing file is exit 3', () => {
  const cwd = makeTempDir();
  fs.writeFileSync(path.join(cwd, 'talk.wav'), encodeWav(session(3 * RATE, [[10_000, 20_000]]), RATE));
  const s = runKws(['rms', '--save', '--input', 'talk.wav'], { cwd });
  assert.equal(s.status, 0, s.stderr);
  assert.match(s.stderr, /warning: the room was not quiet: a sound was heard while measuring/);
  const c = runKws(['record', 'yes', '--input', 'talk.wav'], { cwd, env: { KWS_CONFIG: path.join(cwd, 'nonexistent.json') } });
  assert.equal(c.status, 3);
  assert.match(c.stderr, /nonexistent\.json: no such file \(KWS_CONFIG points to it\)/);
});

test('Ctrl+C with no clip in progress says so instead of "saving the clip in progress"', async () => {
  const cwd = makeTempDir();
  const child = spawnKws(['record', 'yes', '--input', '-'], { cwd });
  const exited = exitOf(child);
  const started = waitFor(child.stderr as NodeJS.ReadableStream, (s) => s.includes('a clip ends after'), 20_000);
  child.stdin?.write(Buffer.from(session(8000, []).buffer));
  const head = await started;
  await new Promise((r) => setTimeout(r, 300));
  const rest = waitFor(child.stderr as NodeJS.ReadableStream, (s) => s.includes('clips saved'), 20_000);
  child.kill('SIGINT');
  const tail = await rest;
  assert.equal(await exited, 0);
  assert.match(head + tail, /Ctrl\+C: stopping \(no clip was in progress\)/);
  assert.doesNotMatch(head + tail, /saving the clip in progress/);
});

test('fixed --help credits the rounding to the original mic.py', () => {
  assert.match(runKws(['fixed', '--help']).stdout, /the original mic\.py rounded up/);
});

test('a full disk while saving: one kws: line naming the folder, exit 3, no temporary file left', (t) => {
  const cwd = makeTempDir();
  const disk = path.join(cwd, 'disk');
  fs.mkdirSync(disk);
  // A real full disk needs a tiny filesystem: a 64 KiB tmpfs (root with mount rights only).
  const mounted = process.platform === 'linux' && spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=64k', 'tmpfs', disk]).status === 0;
  if (!mounted) {
    t.skip('cannot mount a small tmpfs here (needs root); test/audio/clipwriter.test.ts checks the message with a simulated ENOSPC');
    return;
  }
  try {
    fs.writeFileSync(path.join(cwd, 'session.wav'), encodeWav(session(100_000, BURSTS), RATE));
    const r = runKws(['record', 'yes', '--input', 'session.wav', '--dir', 'disk'], { cwd });
    assert.equal(r.status, 3, r.stderr);
    assert.match(r.stderr, /^1 clip saved in disk\/yes\/ before the error\nkws: disk\/yes: cannot save a \d\.\d{3} s clip: the disk is full\n/m);
    assert.equal((r.stderr.match(/^kws:/gm) ?? []).length, 1);
    assert.doesNotMatch(r.stderr, /\n\s+at /);
    const left = fs.readdirSync(path.join(disk, 'yes'));
    assert.equal(left.length, 1, left.join(', '));
    readValid(path.join(disk, 'yes', left[0] as string));
  } finally {
    spawnSync('umount', [disk]);
  }
});
