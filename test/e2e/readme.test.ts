/**
 * README.md, run: every command its ```sh blocks show is either run here with the real
 * `bin/kws`, in README order, in one temporary project folder (so the state flows as in a
 * user's session: calibrate -> record -> predata/ -> data/ -> train -> evaluate/predict ->
 * serve -> stream -> score), or mapped to the test or CI step that exercises it. The table
 * COMMANDS below is the whole contract: a command README gains that is not in it, or a
 * table row README no longer shows, fails the first test.
 *
 * "Speaking" is done by a private PulseAudio virtual microphone (test/vmic.ts) playing
 * synthetic sounds, one per label: "yes" a low hum, "no" a whistle, "stop" a chord. They
 * are not words, but they go through exactly the path words take (recorder, silence
 * splitter, clip files, features, training, UDP streaming), and they are distinct enough
 * for a model trained on a dozen clips in seconds to recognise them, so the test can
 * demand hits instead of merely "it did not crash". Without PulseAudio the microphone
 * commands are reported as skipped (with the reason) and the same sounds are fed with
 * --input instead, so the rest of the walkthrough still runs.
 */
import { after, before, describe, test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { encodeWav, floatToInt16, decodeWav } from '../../src/audio/wav';
import { createRng } from '../../src/util/rng';
import { distRoot, makeTempDir, repoRoot, runKws, spawnKws, type RunResult } from '../helpers';
import { startVirtualMic, vmicSkip, type VirtualMic } from '../vmic';

// ---------------------------------------------------------------------------------------
// The table: every command README.md shows, and how this file (or another) exercises it.
// ---------------------------------------------------------------------------------------

/** What stands in for README's placeholders when a command runs here. */
const PLACEHOLDERS: Record<string, string> = {
  NAME: 'the model trained last in step 4 (`kws train --type mfcc --arch seed`), by its name under models/',
  'held-out/': 'held-out/: 3 fresh synthetic clips per label, written by the test (never recorded, never trained on)',
  'some-clip.wav': 'some-clip.wav: a fresh synthetic "yes" clip',
  'session.wav': 'session.wav: a synthetic 16 s session, two of each word, beside session.labels.json with their times',
  'session.labels.json': '(written with session.wav)',
  SECRET: 'SECRET: a random 32-hex-digit token (README: a shared secret of at least 8 characters)',
  'my-server': 'my-server -> 127.0.0.1 (the server started in step 6 with --host 0.0.0.0 --token SECRET)',
};

type How =
  /** Run here with bin/kws (or sh), in the project folder, in README order. */
  | 'run'
  /** Exercised elsewhere: `note` names the test or CI step (checked by the second test). */
  | 'elsewhere';

interface Row {
  readme: string;
  how: How;
  /** Arguments added to the README command when it runs here (speed-ups, free ports, ...). */
  extra?: string[];
  /** Plays into the virtual microphone; without PulseAudio it gets --input FILE instead. */
  mic?: boolean;
  /** Runs until Ctrl+C in README: here it gets SIGINT once its output shows it worked, and must exit 0. */
  untilCtrlC?: boolean;
  /** Why the command is adapted, or where it is exercised. */
  note: string;
}

const COMMANDS: Row[] = [
  { readme: 'npm install && npm run demo', how: 'elsewhere', note: 'npm install: .ci/run installs with `npm ci` (tests may not install packages); npm run demo: checked here to be `node bin/kws demo`, which test/e2e/demo.test.ts runs' },
  { readme: 'npm test', how: 'elsewhere', note: '.ci/run ends with `npm test` (checked here); this file runs under it' },
  { readme: 'kws doctor', how: 'run', note: 'as written; with the virtual microphone its microphone checks must pass' },
  { readme: 'kws rms --save', how: 'run', mic: true, note: 'the microphone hears quiet room noise (the command measures its 3 s, as written)' },
  { readme: 'kws rms', how: 'run', mic: true, untilCtrlC: true, note: 'a hum is played; SIGINT once the meter has shown it' },
  { readme: 'kws record yes', how: 'run', mic: true, untilCtrlC: true, note: '3 "yes" sounds are played; SIGINT after 3 clips are saved' },
  { readme: 'kws record no', how: 'run', mic: true, untilCtrlC: true, note: '3 "no" sounds are played; SIGINT after 3 clips are saved' },
  { readme: 'kws record _background_ --fixed 16000', how: 'run', mic: true, untilCtrlC: true, extra: ['--countdown', '0'], note: 'room noise is played; SIGINT after 3 clips are saved; --countdown 0: speed (`kws fixed stop` keeps its countdown)' },
  { readme: 'kws maxlen', how: 'run', note: 'as written' },
  { readme: 'kws fixed stop', how: 'run', mic: true, untilCtrlC: true, note: 'a held "stop" chord is played; SIGINT after 3 clips are saved (3 s countdown as written)' },
  { readme: 'mkdir -p data && mv predata/* data/', how: 'run', note: 'as written, through sh' },
  { readme: 'kws train --type mfcc', how: 'run', extra: ['--epochs', '1'], note: '--epochs 1: speed (it is not the model served)' },
  { readme: 'kws train --type spectrogram', how: 'run', extra: ['--epochs', '1'], note: '--epochs 1: speed' },
  { readme: 'kws train --type raw', how: 'run', extra: ['--epochs', '1'], note: '--epochs 1: speed' },
  { readme: 'kws train --type mfcc --arch seed', how: 'run', extra: ['--epochs', '30'], note: '--epochs 30 (each is one step on 12 clips, ~0.1 s): this model is NAME below and must really recognise' },
  { readme: 'kws evaluate --model NAME --data held-out/', how: 'run', note: 'placeholders only' },
  { readme: 'kws predict --model NAME some-clip.wav', how: 'run', note: 'placeholders only' },
  { readme: 'kws serve -n NAME', how: 'run', untilCtrlC: true, extra: ['--port', '0'], note: 'a free port instead of 4444; runs through steps 7-8, then SIGINT' },
  { readme: 'kws serve -n NAME --host 0.0.0.0 --token SECRET', how: 'run', untilCtrlC: true, extra: ['--port', '0'], note: 'a free port instead of 4444; runs through steps 7-8, then SIGINT' },
  { readme: 'kws stream', how: 'run', mic: true, untilCtrlC: true, extra: ['-p', '<port of kws serve -n NAME>'], note: 'the free port; "yes no stop" is played; SIGINT once all three are hit' },
  { readme: 'kws stream --host my-server --token SECRET --json', how: 'run', mic: true, untilCtrlC: true, extra: ['-p', '<port of the --token server>'], note: 'my-server -> 127.0.0.1; hears the same playback as `kws stream`' },
  { readme: 'kws score session.wav -n NAME --labels session.labels.json --sweep', how: 'run', note: 'placeholders only' },
  { readme: 'kws stream --threshold 0.5 --refractory 1.5', how: 'run', mic: true, untilCtrlC: true, extra: ['-p', '<port of kws serve -n NAME>'], note: 'the free port; started with step 7\'s clients, so it hears the same playback (saves 7 s; score changes no state)' },
  { readme: 'docker build -t kws .', how: 'elsewhere', note: 'no Docker engine on test machines: test/e2e/dockerfile.test.ts checks the Dockerfile (stages, --omit=dev, non-root, EXPOSE, every COPY source) and runs its CMD outside Docker' },
  { readme: 'docker run --rm -p 4444:4444/udp -v "$PWD/models:/app/models" -v "$PWD/stats:/app/stats" kws serve -n NAME --host 0.0.0.0', how: 'run', untilCtrlC: true, extra: ['--port', '0'], note: 'no Docker engine: the container arguments run with bin/kws in the project folder the volumes mount (checked: they are WORKDIR folders of the Dockerfile); a free port; SIGTERM as `docker stop` sends' },
  { readme: 'docker run --rm -p 4444:4444/udp -v "$PWD/models:/app/models" -e KWS_MODEL=NAME kws', how: 'run', untilCtrlC: true, note: 'no Docker engine: the Dockerfile\'s CMD runs with bin/kws and KWS_MODEL=NAME in the project folder, port 4444 -> a free port; SIGTERM' },
  { readme: 'docker run --rm -v "$PWD/data:/app/data" -v "$PWD/models:/app/models" -v "$PWD/stats:/app/stats" kws train --type mfcc', how: 'run', extra: ['--epochs', '1'], note: 'no Docker engine: the container arguments run with bin/kws in the project folder; --epochs 1: speed' },
  { readme: 'npm run bench', how: 'elsewhere', note: 'not run by any test (speed goals stay out of tests): checked here that the script exists and bench/index.ts compiled; the lead runs it' },
];

// ---------------------------------------------------------------------------------------
// README parsing
// ---------------------------------------------------------------------------------------

/** Strip a shell comment: the first # at a word start, outside quotes. */
function stripComment(line: string): string {
  let quote: string | null = null;
  for (let i = 0; i < line.length; i++) {
    const c = line[i];
    if (quote) {
      if (c === quote) quote = null;
    } else if (c === '"' || c === "'") quote = c;
    else if (c === '#' && (i === 0 || /\s/.test(line[i - 1] ?? ''))) return line.slice(0, i);
  }
  return line;
}

/** Every command line of README's ```sh blocks, continuations joined, comments dropped, in order. */
function readmeCommands(markdown: string): string[] {
  const out: string[] = [];
  let inSh = false;
  let pending = '';
  for (const raw of markdown.split('\n')) {
    if (!inSh) {
      if (/^```(sh|bash|shell)\s*$/.test(raw.trim())) inSh = true;
      continue;
    }
    if (raw.trim().startsWith('```')) {
      inSh = false;
      continue;
    }
    const line = stripComment(raw).trimEnd();
    if (line.endsWith('\\')) {
      pending += `${line.slice(0, -1)} `;
      continue;
    }
    const cmd = (pending + line).replace(/\s+/g, ' ').trim();
    pending = '';
    if (cmd) out.push(cmd);
  }
  return out;
}

/** Shell-like words: whitespace-separated, double or single quotes grouped and removed. */
function shellWords(cmd: string): string[] {
  const words: string[] = [];
  const re = /"([^"]*)"|'([^']*)'|(\S+)/g;
  let m: RegExpExecArray | null;
  while ((m = re.exec(cmd))) words.push(m[1] ?? m[2] ?? m[3] ?? '');
  return words;
}

const readmeText = fs.readFileSync(path.join(repoRoot, 'README.md'), 'utf8');
const shown = readmeCommands(readmeText);

function row(readme: string): Row {
  const r = COMMANDS.find((c) => c.readme === readme);
  assert.ok(r, `no table row for README command: ${readme}`);
  return r;
}

test('every command README.md shows is in this file\'s table, and every row is still in README', () => {
  assert.ok(shown.length >= 20, `parsed only ${shown.length} commands from README.md`);
  const table = COMMANDS.map((c) => c.readme);
  const unlisted = [...new Set(shown)].filter((c) => !table.includes(c));
  assert.deepEqual(unlisted, [], `README.md shows commands no test runs; add them to COMMANDS in test/e2e/readme.test.ts:\n  ${unlisted.join('\n  ')}`);
  const stale = table.filter((c) => !shown.includes(c));
  assert.deepEqual(stale, [], `rows for commands README.md no longer shows:\n  ${stale.join('\n  ')}`);
  // The walkthrough below runs the rows in README order; a reordered README must reorder it too.
  const firstSeen = [...new Set(shown)];
  assert.deepEqual(table, firstSeen, 'COMMANDS is in README order');
  // Placeholders used by commands that run here all have a declared stand-in.
  for (const c of COMMANDS.filter((r) => r.how === 'run')) {
    for (const w of shellWords(c.readme)) {
      if (/^[A-Z][A-Z_]+$/.test(w) && !(w in PLACEHOLDERS)) assert.fail(`${c.readme}: placeholder ${w} has no stand-in in PLACEHOLDERS`);
    }
  }
});

test('the README commands mapped elsewhere are exercised there', () => {
  const pkg = JSON.parse(fs.readFileSync(path.join(repoRoot, 'package.json'), 'utf8')) as { scripts: Record<string, string> };
  assert.equal(pkg.scripts['demo'], 'node bin/kws demo');
  assert.match(fs.readFileSync(path.join(repoRoot, 'test', 'e2e', 'demo.test.ts'), 'utf8'), /runKws\(\['demo'/);
  const ci = fs.readFileSync(path.join(repoRoot, '.ci', 'run'), 'utf8');
  assert.match(ci, /^npm ci\b/m, '.ci/run installs the packages');
  assert.match(ci, /^npm test$/m, '.ci/run runs npm test');
  assert.match(pkg.scripts['test'] ?? '', /node --test .*dist\/test\//);
  assert.match(pkg.scripts['bench'] ?? '', /node dist\/bench\/index\.js/);
  assert.ok(fs.existsSync(path.join(distRoot, 'bench', 'index.js')), 'bench/index.ts compiles');
  const dockerTest = fs.readFileSync(path.join(repoRoot, 'test', 'e2e', 'dockerfile.test.ts'), 'utf8');
  assert.match(dockerTest, /multi-stage, production-only, non-root/);
  assert.match(dockerTest, /every file the Dockerfile copies/);
});

// ---------------------------------------------------------------------------------------
// Sounds the virtual microphone plays
// ---------------------------------------------------------------------------------------

const SR = 16000;
const rng = createRng(7);
/** Room noise floor: about 13 on the integer-RMS scale, well under the threshold `kws rms --save` finds. */
const FLOOR = 0.0004;

type Word = 'yes' | 'no' | 'stop';

/** One label's sound: "yes" a 330 Hz hum, "no" a 2.5 kHz whistle, "stop" a 1.2 + 1.8 kHz chord. */
function sound(word: Word, seconds: number): Float32Array {
  const n = Math.round(seconds * SR);
  const x = new Float32Array(n);
  const freqs = word === 'yes' ? [330, 660] : word === 'no' ? [2500] : [1200, 1800];
  const fade = Math.round(0.015 * SR);
  for (let i = 0; i < n; i++) {
    const env = Math.min(1, i / fade, (n - 1 - i) / fade);
    let v = 0;
    for (const f of freqs) v += Math.sin((2 * Math.PI * f * i) / SR);
    x[i] = (0.25 * env * v) / freqs.length;
  }
  return x;
}

/** A recording: room noise throughout, with sounds placed at given times. Returns the labelled spans. */
function compose(file: string, seconds: number, parts: [number, Word, number][]): { label: string; start_s: number; end_s: number }[] {
  const x = new Float32Array(Math.round(seconds * SR));
  for (let i = 0; i < x.length; i++) x[i] = FLOOR * rng.normal();
  for (const [at, word, len] of parts) {
    const s = sound(word, len);
    const o = Math.round(at * SR);
    for (let i = 0; i < s.length && o + i < x.length; i++) x[o + i] = (x[o + i] as number) + (s[i] as number);
  }
  fs.writeFileSync(file, encodeWav(floatToInt16(x), SR));
  return parts.map(([at, word, len]) => ({ label: word, start_s: at, end_s: at + len }));
}

/**
 * How long "yes" and "no" sound. 0.6 s: with the pre- and post-roll a clip stays under the 1 s
 * window (up to 15 chunks = 15360 samples), and a sound filling most of the window is found by
 * the hop-aligned windows of `kws serve` wherever it falls (at 0.45 s the seed model, trained
 * without time-shift augmentation on these perfectly centred clips, missed "yes" in the stream).
 */
const WORD_S = 0.6;
/** A gap the silence splitter ends a clip in (7 quiet chunks = 0.45 s) with room to spare. */
const GAP_S = 0.65;

/** `count` takes of one word, the first after `lead` seconds (the recorder's start-up). */
function takes(file: string, word: Word, count: number, lead = 1.0): void {
  const every = WORD_S + GAP_S;
  compose(file, lead + count * every + 0.5, Array.from({ length: count }, (_, i): [number, Word, number] => [lead + i * every, word, WORD_S]));
}

// ---------------------------------------------------------------------------------------
// Processes
// ---------------------------------------------------------------------------------------

interface Proc {
  child: ChildProcess;
  out: () => string;
  err: () => string;
  exit: Promise<number | null>;
}

const running = new Set<ChildProcess>();

function track(child: ChildProcess): Proc {
  let out = '';
  let err = '';
  running.add(child);
  child.stdout?.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (err += d.toString()));
  const exit = new Promise<number | null>((resolve) => child.on('close', (code) => {
    running.delete(child);
    resolve(code);
  }));
  return { child, out: () => out, err: () => err, exit };
}

async function waitFor(cond: () => boolean, ms: number, what: string, p?: Proc): Promise<void> {
  const until = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > until) throw new Error(`timed out after ${ms} ms waiting for ${what}${p ? `\nstdout:\n${p.out()}\nstderr:\n${p.err()}` : ''}`);
    if (p && p.child.exitCode !== null) throw new Error(`exited (${p.child.exitCode}) before ${what}\nstdout:\n${p.out()}\nstderr:\n${p.err()}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Playback into the virtual microphone that can be cut short (vmic.play cannot). */
function playInto(mic: VirtualMic, wav: string): { stop: () => void } {
  const child = spawn('paplay', ['--device=kwsnull', wav], { env: mic.env, stdio: 'ignore' });
  running.add(child);
  child.on('close', () => running.delete(child));
  return { stop: () => void (child.exitCode === null && child.kill('SIGTERM')) };
}

// ---------------------------------------------------------------------------------------
// The walkthrough
// ---------------------------------------------------------------------------------------

const micSkip = vmicSkip();

describe('README walkthrough, command by command, in one project folder', () => {
  let mic: VirtualMic | null = null;
  let project = '';
  let studio = '';
  let failed: string | null = null;
  const ran = new Set<string>();
  let model = '';
  const token = randomBytes(16).toString('hex');
  const ports: Record<string, number> = {};
  const servers: Record<string, Proc> = {};

  before(() => {
    const root = process.env.KWS_README_KEEP ? fs.mkdtempSync(path.join(process.env.KWS_README_KEEP, 'r-')) : makeTempDir('kws-readme-');
    project = path.join(root, 'project');
    studio = path.join(root, 'studio');
    fs.mkdirSync(project);
    fs.mkdirSync(studio);
    if (!micSkip) mic = startVirtualMic();
  });
  after(async () => {
    for (const c of running) c.kill('SIGKILL');
    mic?.stop();
  });

  /** A walkthrough step; after one fails the rest skip, naming it, instead of failing confusingly. */
  function step(readme: string, fn: (t: TestContext, r: Row) => Promise<void> | void): void {
    const r = row(readme);
    test(readme, async (t) => {
      if (failed) {
        t.skip(`an earlier step failed: ${failed}`);
        return;
      }
      try {
        await fn(t, r);
        ran.add(readme);
      } catch (err) {
        failed = readme;
        throw err;
      }
    });
  }

  /** The README command's arguments (without `kws`), placeholders replaced, the row's extras added. */
  function argsOf(r: Row): string[] {
    const words = shellWords(r.readme);
    assert.equal(words[0], 'kws', r.readme);
    const all: Record<string, string> = {
      NAME: model,
      'held-out/': 'held-out/',
      'some-clip.wav': 'some-clip.wav',
      'session.wav': 'session.wav',
      'session.labels.json': 'session.labels.json',
      'my-server': '127.0.0.1',
      SECRET: token,
      '<port of kws serve -n NAME>': String(ports['kws serve -n NAME']),
      '<port of the --token server>': String(ports['kws serve -n NAME --host 0.0.0.0 --token SECRET']),
    };
    const out = [...words.slice(1), ...(r.extra ?? [])].map((w) => all[w] ?? w);
    assert.ok(!out.includes('undefined'), `${r.readme}: a stand-in is not known yet: ${out.join(' ')}`);
    return out;
  }

  function run(args: string[], env?: NodeJS.ProcessEnv): RunResult {
    return runKws(args, { cwd: project, env, timeoutMs: 60_000 });
  }

  function ok(r: RunResult, what: string): void {
    assert.equal(r.status, 0, `${what} exited ${String(r.status)}\nstdout:\n${r.stdout}\nstderr:\n${r.stderr}`);
  }

  function start(args: string[], env?: NodeJS.ProcessEnv): Proc {
    return track(spawnKws(args, { cwd: project, env: { ...(mic?.env ?? {}), ...env } }));
  }

  async function interrupt(p: Proc, what: string, signal: NodeJS.Signals = 'SIGINT'): Promise<void> {
    p.child.kill(signal);
    const code = await Promise.race([p.exit, sleep(10_000).then(() => 'timeout' as const)]);
    assert.equal(code, 0, `${what} after ${signal}: exit ${String(code)}\nstdout:\n${p.out()}\nstderr:\n${p.err()}`);
  }

  function clips(folder: string): string[] {
    const dir = path.join(project, folder);
    return fs.existsSync(dir) ? fs.readdirSync(dir).filter((f) => f.endsWith('.wav')).sort() : [];
  }

  function seconds(file: string): number {
    const w = decodeWav(fs.readFileSync(file), file);
    assert.equal(w.sampleRate, SR, file);
    return (w.data[0]?.length ?? 0) / SR;
  }

  /**
   * A microphone command: with the virtual microphone, start it, play `sound` once it is
   * listening, and stop it with SIGINT when `enough` holds; without one, report the step as
   * skipped and run the same command on the same sound with --input.
   */
  async function withMic(t: TestContext, r: Row, args: string[], sound: string, enough: (p: Proc) => boolean, what: string, asFile = sound): Promise<Proc> {
    assert.ok(r.mic, `${r.readme} is marked as a microphone command in COMMANDS`);
    if (!mic) {
      sound = asFile;
      t.skip(`no virtual microphone (${String(micSkip)}); ran with --input ${path.basename(sound)} instead`);
      // --countdown is for the microphone only (a usage error with --input).
      const fileArgs = args.filter((a, i) => a !== '--countdown' && args[i - 1] !== '--countdown');
      const p = track(spawnKws([...fileArgs, '--input', sound, ...(args[0] === 'stream' ? ['--fast'] : [])], { cwd: project }));
      assert.equal(await p.exit, 0, p.err());
      return p;
    }
    const p = start(args);
    // The recorder announces itself on stderr before audio flows; the sounds start after a lead-in.
    await waitFor(() => p.err().length > 0, 20_000, `${r.readme} to start`, p);
    const play = playInto(mic, sound);
    try {
      await waitFor(() => enough(p), 30_000, what, p);
    } finally {
      play.stop();
    }
    if (r.untilCtrlC) await interrupt(p, r.readme);
    else assert.equal(await p.exit, 0, p.err());
    return p;
  }

  // --- 0. Check the machine ------------------------------------------------------------
  step('kws doctor', (_t, r) => {
    const d = run(argsOf(r), mic?.env);
    const mics = d.stdout.split('\n').filter((l) => /microphone/.test(l));
    assert.ok(mics.length >= 1, d.stdout);
    assert.match(d.stdout, /\[ok {2}\] node: Node\.js/);
    assert.match(d.stdout, /\[ok {2}\] tensorflow backend: (wasm|cpu|tensorflow)/);
    if (mic) {
      ok(d, 'kws doctor');
      for (const l of mics) assert.match(l, /^\[ok/, `with the virtual microphone every microphone check passes: ${l}`);
    } else {
      // Without the virtual microphone the machine's own may or may not work; nothing else may fail.
      const fails = d.stdout.split('\n').filter((l) => l.startsWith('[FAIL]'));
      assert.equal(d.status, fails.length > 0 ? 4 : 0, d.stdout);
      for (const l of fails) assert.match(l, /microphone/, `only microphone checks may fail here: ${l}`);
    }
  });

  // --- 1. Calibrate ----------------------------------------------------------------------
  step('kws rms --save', async (t, r) => {
    const room = path.join(studio, 'room.wav');
    compose(room, 5, []);
    const p = await withMic(t, r, argsOf(r), room, (q) => q.child.exitCode !== null, 'the 3 s measurement');
    const cfg = JSON.parse(fs.readFileSync(path.join(project, 'kws.json'), 'utf8')) as { silenceThreshold: number };
    // 2 x the 95th percentile of ~13: between the floor and the sounds (integer RMS 4100-5800).
    assert.ok(cfg.silenceThreshold >= 10 && cfg.silenceThreshold <= 60, `silenceThreshold ${cfg.silenceThreshold}`);
    assert.match(p.out(), new RegExp(`silenceThreshold ${cfg.silenceThreshold} saved to kws\\.json`));
  });

  step('kws rms', async (t, r) => {
    const speak = path.join(studio, 'speak.wav');
    compose(speak, 3, [[1.2, 'yes', 0.6]]);
    const levels = (q: Proc): number[] => [...q.out().matchAll(/rms:\s+(\d+)/g)].map((m) => Number(m[1]));
    const p = await withMic(t, r, argsOf(r), speak, (q) => levels(q).some((v) => v > 3000), 'the meter to show the hum');
    const l = levels(p);
    // Piped, the meter prints one line per 1024-sample chunk: the quiet room, then the hum
    // (two partials of amplitude 0.125: RMS 0.125, about 4100 on the integer scale).
    assert.ok(Math.min(...l) < 30 && Math.max(...l) > 3000, `levels ${l.join(' ')}`);
  });

  // --- 2. Record ----------------------------------------------------------------------
  for (const [readme, label, word, count] of [
    ['kws record yes', 'yes', 'yes', 3],
    ['kws record no', 'no', 'no', 3],
  ] as const) {
    step(readme, async (t, r) => {
      const file = path.join(studio, `${label}-takes.wav`);
      takes(file, word, count);
      const p = await withMic(t, r, argsOf(r), file, () => clips(`predata/${label}`).length >= count, `${count} clips in predata/${label}/`);
      const saved = clips(`predata/${label}`);
      assert.equal(saved.length, count, `clips: ${saved.join(', ')}\n${p.err()}`);
      assert.equal(p.out().trim().split('\n').filter((l) => l.startsWith(`saved predata/${label}/`)).length, count, p.out());
      // The sound plus the pre- and post-roll: one clip per take, none merged or split.
      for (const f of saved) {
        const s = seconds(path.join(project, 'predata', label, f));
        assert.ok(s > WORD_S && s < 1.0, `${f}: ${s} s`);
      }
    });
  }

  step('kws record _background_ --fixed 16000', async (t, r) => {
    const room = path.join(studio, 'background.wav');
    compose(room, 8, []);
    await withMic(t, r, argsOf(r), room, () => clips('predata/_background_').length >= 3, '3 background clips');
    const saved = clips('predata/_background_');
    assert.ok(saved.length >= 3, saved.join(', '));
    for (const f of saved) assert.equal(seconds(path.join(project, 'predata', '_background_', f)), 1, f);
  });

  step('kws maxlen', (_t, r) => {
    const m = run(argsOf(r));
    ok(m, 'kws maxlen');
    // The 1 s background clips are the longest.
    assert.match(m.stdout, /^16000 samples \(1\.000 s\): predata\/_background_\/\S+\.wav$/m);
  });

  step('kws fixed stop', async (t, r) => {
    const held = path.join(studio, 'stop-held.wav');
    // Countdown (3 s) and start-up first, then a chord held for the clips.
    compose(held, 12, [[0.5, 'stop', 11.2]]);
    // As a file (no microphone) there is no countdown or start-up to cover: the chord from the start.
    const asFile = path.join(studio, 'stop-file.wav');
    compose(asFile, 3.5, [[0, 'stop', 3.5]]);
    await withMic(t, r, argsOf(r), held, () => clips('predata/stop').length >= 3, '3 "stop" clips', asFile);
    const saved = clips('predata/stop');
    assert.ok(saved.length >= 3, saved.join(', '));
    // Exactly the longest clip's length (kws maxlen above), and all of it the chord, no countdown.
    for (const f of saved) {
      const w = decodeWav(fs.readFileSync(path.join(project, 'predata', 'stop', f)), f);
      const x = w.data[0] as Float32Array;
      assert.equal(x.length, 16000, f);
      let e = 0;
      for (const v of x) e += v * v;
      assert.ok(Math.sqrt(e / x.length) > 0.1, `${f} holds the chord`);
    }
  });

  // --- 3. Move the clips ------------------------------------------------------------------
  step('mkdir -p data && mv predata/* data/', (_t, r) => {
    const before = ['yes', 'no', '_background_', 'stop'].map((l) => clips(`predata/${l}`).length);
    const sh = spawnSync('sh', ['-c', r.readme], { cwd: project, encoding: 'utf8' });
    assert.equal(sh.status, 0, sh.stderr);
    assert.deepEqual(fs.readdirSync(path.join(project, 'predata')), []);
    assert.deepEqual(['yes', 'no', '_background_', 'stop'].map((l) => clips(`data/${l}`).length), before);
  });

  // --- 4. Train -------------------------------------------------------------------------------
  for (const [readme, type, arch] of [
    ['kws train --type mfcc', 'mfcc', 'default'],
    ['kws train --type spectrogram', 'spectrogram', 'default'],
    ['kws train --type raw', 'raw', 'default'],
    ['kws train --type mfcc --arch seed', 'mfcc', 'seed'],
  ] as const) {
    step(readme, (_t, r) => {
      const before = new Set(fs.existsSync(path.join(project, 'models')) ? fs.readdirSync(path.join(project, 'models')) : []);
      const tr = run(argsOf(r));
      ok(tr, readme);
      const made = fs.readdirSync(path.join(project, 'models')).filter((n) => !before.has(n));
      assert.equal(made.length, 1, `one new model folder: ${made.join(', ')}`);
      const name = made[0] as string;
      assert.match(name, { mfcc: /^mfccmodel\d+$/, spectrogram: /^specmodel\d+$/, raw: /^1dconv\d+$/ }[type]);
      for (const f of ['model.json', 'weights.bin', 'kws-model.json', 'report.html']) assert.ok(fs.existsSync(path.join(project, 'models', name, f)), `models/${name}/${f}`);
      assert.ok(fs.existsSync(path.join(project, 'stats', `${name}.json`)), `stats/${name}.json`);
      const meta = JSON.parse(fs.readFileSync(path.join(project, 'models', name, 'kws-model.json'), 'utf8')) as { type: string; labels: string[]; training: { arch: string } };
      assert.equal(meta.type, type);
      assert.equal(meta.training.arch, arch);
      assert.deepEqual([...meta.labels].sort(), ['_background_', 'no', 'stop', 'yes']);
      assert.match(tr.stderr, /final validation accuracy/);
      model = name;
    });
  }

  // --- 5. Evaluate and predict --------------------------------------------------------------
  step('kws evaluate --model NAME --data held-out/', (_t, r) => {
    for (const w of ['yes', 'no', 'stop'] as const) {
      fs.mkdirSync(path.join(project, 'held-out', w), { recursive: true });
      for (let i = 0; i < 3; i++) compose(path.join(project, 'held-out', w, `${w}_${i}.wav`), w === 'stop' ? 1 : 0.8, [[w === 'stop' ? 0.1 : 0.05 + 0.05 * i, w, w === 'stop' ? 0.85 : WORD_S]]);
    }
    fs.mkdirSync(path.join(project, 'held-out', '_background_'));
    for (let i = 0; i < 3; i++) compose(path.join(project, 'held-out', '_background_', `bg_${i}.wav`), 1, []);
    const e = run(argsOf(r));
    ok(e, 'kws evaluate');
    assert.match(e.stdout, new RegExp(`^model ${model} on `, 'm'));
    const acc = /accuracy (\d+\.\d)% on 12 clips/.exec(e.stdout);
    assert.ok(acc, e.stdout);
    assert.ok(Number(acc[1]) >= 75, `the served model recognises fresh clips: ${e.stdout}`);
    assert.match(e.stdout, /confusion matrix/);
  });

  step('kws predict --model NAME some-clip.wav', (_t, r) => {
    compose(path.join(project, 'some-clip.wav'), 0.9, [[0.15, 'yes', WORD_S]]);
    const p = run(argsOf(r));
    ok(p, 'kws predict');
    assert.match(p.stdout, /^some-clip\.wav\s+yes\s+(0\.\d{3}|1\.000)$/m);
  });

  // --- 6. Serve -----------------------------------------------------------------------
  const SERVES = ['kws serve -n NAME', 'kws serve -n NAME --host 0.0.0.0 --token SECRET'] as const;
  const listening: Record<string, Promise<void>> = {};
  for (const readme of SERVES) {
    step(readme, async (_t, r) => {
      // Both start with the first step (they are independent, and model loading is the slow part).
      if (readme === SERVES[0]) {
        for (const rd of SERVES) {
          const s = start(argsOf(row(rd)));
          servers[rd] = s;
          listening[rd] = waitFor(() => /listening on udp [^\s]+:\d+/.test(s.err()), 60_000, 'the server to listen', s);
          listening[rd]?.catch(() => undefined); // awaited, and reported, by its own step
        }
      }
      const s = servers[r.readme];
      assert.ok(s, 'started by the first serve step');
      await listening[r.readme];
      const m = /listening on udp ([^\s]+):(\d+)( \(token required\))?/.exec(s.err());
      assert.ok(m);
      assert.equal(m[1], readme.includes('0.0.0.0') ? '0.0.0.0' : '127.0.0.1');
      assert.equal(Boolean(m[3]), readme.includes('--token'));
      assert.match(s.err(), new RegExp(`model ${model} \\(mfcc; _background_, no, stop, yes\\)`));
      ports[readme] = Number(m[2]);
    });
  }

  // --- 7. Stream from the microphone ---------------------------------------------------------
  const spoken = (): string => {
    const file = path.join(studio, 'spoken.wav');
    if (!fs.existsSync(file)) compose(file, 5.4, [[1.0, 'yes', WORD_S], [2.2, 'no', WORD_S], [3.4, 'stop', 1.0]]);
    return file;
  };

  const STREAMS = ['kws stream', 'kws stream --host my-server --token SECRET --json', 'kws stream --threshold 0.5 --refractory 1.5'] as const;
  const streamed: Record<string, Proc> = {};

  /** The hits one client printed: its --json lines, or the original client's hit lines. */
  function hitsOf(readme: string, out: string): { label: string; probability: number }[] {
    if (readme.includes('--json')) return out.trim().split('\n').filter(Boolean).map((l) => JSON.parse(l) as { label: string; probability: number });
    return [...out.matchAll(/^hit \{'label': '([^']+)', 'probability': (0\.\d+|1)\}$/gm)].map((m) => ({ label: m[1] as string, probability: Number(m[2]) }));
  }
  const heardAll = (readme: string, out: string): boolean => ['yes', 'no', 'stop'].every((w) => hitsOf(readme, out).some((h) => h.label === w));

  const streamArgs = (readme: string): string[] => argsOf(row(readme));

  /** The three clients of steps 7 and 8 hear one playback of "yes no stop", as three people's terminals would. */
  step('kws stream', async (t, r) => {
    if (!mic) {
      t.skip(`no virtual microphone (${String(micSkip)}); ran with --input spoken.wav instead`);
      for (const readme of STREAMS) {
        const q = track(spawnKws([...streamArgs(readme), '--input', spoken(), '--fast'], { cwd: project }));
        assert.equal(await q.exit, 0, q.err());
        streamed[readme] = q;
      }
    } else {
      for (const readme of STREAMS) streamed[readme] = start(streamArgs(readme));
      for (const [readme, q] of Object.entries(streamed)) await waitFor(() => q.err().includes(' -> '), 20_000, `${readme} to connect`, q);
      const play = playInto(mic, spoken());
      try {
        await waitFor(() => Object.entries(streamed).every(([readme, q]) => heardAll(readme, q.out())), 30_000, 'hits for yes, no and stop in all three clients', streamed[r.readme]);
      } finally {
        play.stop();
      }
      for (const [readme, q] of Object.entries(streamed)) await interrupt(q, readme);
    }
    const p = streamed[r.readme] as Proc;
    assert.deepEqual([...new Set(hitsOf(r.readme, p.out()).map((h) => h.label))].sort(), ['no', 'stop', 'yes'], p.out());
    // The default --host is localhost; the server listens on 127.0.0.1.
    assert.match(p.err(), new RegExp(`-> localhost:${ports['kws serve -n NAME']} \\(model ${model}`));
  });

  step('kws stream --host my-server --token SECRET --json', (t, r) => {
    const p = streamed[r.readme];
    assert.ok(p, 'started in step 7');
    if (!mic) t.skip(`no virtual microphone (${String(micSkip)}); ran with --input spoken.wav instead`);
    const hits = p.out().trim().split('\n').map((l) => JSON.parse(l) as { label: string; probability: number; t: number; latency_ms: number });
    assert.deepEqual([...new Set(hits.map((h) => h.label))].sort(), ['no', 'stop', 'yes'], p.out());
    for (const h of hits) assert.ok(h.probability >= 0.6 && h.t > 0 && h.latency_ms >= 0, JSON.stringify(h));
    assert.match(p.err(), /-> 127\.0\.0\.1:\d+ \(model /, 'authenticated: the server answered with its model');
  });

  // --- 8. Tune the threshold --------------------------------------------------------------------
  step('kws score session.wav -n NAME --labels session.labels.json --sweep', (_t, r) => {
    const words: [number, Word, number][] = [];
    (['yes', 'no', 'stop', 'stop', 'yes', 'no'] as const).forEach((w, i) => words.push([1 + i * 2.5, w, w === 'stop' ? 1.0 : WORD_S]));
    const labels = compose(path.join(project, 'session.wav'), 16, words);
    fs.writeFileSync(path.join(project, 'session.labels.json'), JSON.stringify(labels, null, 1));
    const s = run(argsOf(r));
    ok(s, 'kws score');
    const recall = /^recall\s+([\d.]+) %\s+\((\d+)\/6 keywords found\)/m.exec(s.stdout);
    assert.ok(recall, s.stdout);
    assert.ok(Number(recall[2]) >= 5, `the served model finds the session's words: ${s.stdout}`);
    // --sweep: a row per threshold from 0.30 to 0.95.
    const rows = s.stdout.split('\n').filter((l) => /^\s+0\.\d\d\s+[\d.]+ %/.test(l));
    assert.equal(rows.length, 14, s.stdout);
  });

  step('kws stream --threshold 0.5 --refractory 1.5', async (t, r) => {
    const p = streamed[r.readme];
    assert.ok(p, 'started in step 7');
    if (!mic) t.skip(`no virtual microphone (${String(micSkip)}); ran with --input spoken.wav instead`);
    const hits = hitsOf(r.readme, p.out());
    assert.deepEqual([...new Set(hits.map((h) => h.label))].sort(), ['no', 'stop', 'yes'], p.out());
    for (const h of hits) assert.ok(h.probability >= 0.5, `a hit under --threshold 0.5: ${JSON.stringify(h)}`);
    // Stop the step-6 servers as Ctrl+C would; they must report the datagrams they served.
    for (const [readme, s] of Object.entries(servers)) {
      await interrupt(s, readme);
      const m = /stopped after (\d+) datagrams, (\d+) windows classified/.exec(s.err());
      assert.ok(m && Number(m[1]) > 0 && Number(m[2]) > 0, `${readme}: ${s.err()}`);
    }
  });

  // --- Serving from Docker, without Docker -------------------------------------------------------
  const dockerfile = fs.readFileSync(path.join(repoRoot, 'Dockerfile'), 'utf8');
  const workdir = [...dockerfile.matchAll(/^WORKDIR\s+(\S+)/gm)].pop()?.[1] ?? '';
  const cmd = JSON.parse([...dockerfile.matchAll(/^CMD\s+(\[.*\])$/gm)].pop()?.[1] ?? '[]') as string[];

  /** `docker run [options] IMAGE ARGS...`: the volumes, the environment and the container's arguments. */
  function dockerRun(readme: string): { volumes: [string, string][]; env: Record<string, string>; image: string; args: string[] } {
    const w = shellWords(readme);
    assert.deepEqual(w.slice(0, 2), ['docker', 'run']);
    const volumes: [string, string][] = [];
    const env: Record<string, string> = {};
    let i = 2;
    for (; i < w.length && (w[i] ?? '').startsWith('-'); i++) {
      const opt = w[i] as string;
      if (opt === '--rm') continue;
      const val = w[++i] ?? '';
      if (opt === '-v') volumes.push(val.split(':') as [string, string]);
      else if (opt === '-e') env[val.split('=')[0] ?? ''] = val.split('=').slice(1).join('=');
      else assert.ok(opt === '-p', `docker run option ${opt} is not understood by this test`);
    }
    return { volumes, env, image: w[i] ?? '', args: w.slice(i + 1) };
  }

  /** Host folders the volumes mount are project folders the walkthrough made; targets are in the image's WORKDIR. */
  function checkVolumes(volumes: [string, string][]): void {
    assert.ok(volumes.length > 0);
    for (const [host, target] of volumes) {
      const rel = host.replace(/^\$PWD\//, '');
      assert.ok(fs.statSync(path.join(project, rel)).isDirectory(), `${host} exists after the walkthrough`);
      assert.equal(target, `${workdir}/${rel}`, `volume ${host}:${target} mounts into the image's ${workdir}`);
    }
  }

  /** Both `docker run` server rows start together (they are independent) and are checked in their own steps. */
  const dockerServers: Record<string, Promise<Proc>> = {};
  const DOCKER_SERVE = [
    'docker run --rm -p 4444:4444/udp -v "$PWD/models:/app/models" -v "$PWD/stats:/app/stats" kws serve -n NAME --host 0.0.0.0',
    'docker run --rm -p 4444:4444/udp -v "$PWD/models:/app/models" -e KWS_MODEL=NAME kws',
  ] as const;

  /** The container's command with bin/kws: listening on 0.0.0.0 with NAME, then SIGTERM (`docker stop`) and exit 0. */
  async function dockerServe(readme: string, args: string[], env: Record<string, string>): Promise<Proc> {
    const s = start(args, env);
    await waitFor(() => /listening on udp 0\.0\.0\.0:\d+/.test(s.err()), 60_000, 'the server to listen on 0.0.0.0', s);
    await interrupt(s, readme, 'SIGTERM');
    return s;
  }

  step(DOCKER_SERVE[0], async (_t, r) => {
    const d = dockerRun(r.readme);
    assert.equal(d.image, 'kws', 'the image `docker build -t kws .` made');
    checkVolumes(d.volumes);
    dockerServers[r.readme] = dockerServe(r.readme, [...d.args.map((a) => (a === 'NAME' ? model : a)), ...(r.extra ?? [])], {});

    const d2 = dockerRun(DOCKER_SERVE[1]);
    assert.deepEqual(d2.args, [], 'the image default command');
    assert.equal(d2.image, 'kws');
    checkVolumes(d2.volumes);
    assert.deepEqual(d2.env, { KWS_MODEL: 'NAME' });
    assert.deepEqual(cmd, ['serve', '--host', '0.0.0.0', '--port', '4444'], 'the Dockerfile CMD this row adapts');
    const second = dockerServe(DOCKER_SERVE[1], cmd.map((a) => (a === '4444' ? '0' : a)), { KWS_MODEL: model });
    second.catch(() => undefined); // awaited, and reported, by the next step
    dockerServers[DOCKER_SERVE[1]] = second;

    const s = await (dockerServers[r.readme] as Promise<Proc>);
    assert.match(s.err(), new RegExp(`model ${model} `));
  });

  step(DOCKER_SERVE[1], async (_t, r) => {
    const pending = dockerServers[r.readme];
    assert.ok(pending, 'started by the previous step');
    const s = await pending;
    // No -n: the model came from KWS_MODEL, as the image's ENV/CMD pair intends.
    assert.match(s.err(), new RegExp(`model ${model} `));
  });

  step('docker run --rm -v "$PWD/data:/app/data" -v "$PWD/models:/app/models" -v "$PWD/stats:/app/stats" kws train --type mfcc', (_t, r) => {
    const d = dockerRun(r.readme);
    checkVolumes(d.volumes);
    const before = fs.readdirSync(path.join(project, 'models'));
    const tr = run([...d.args, ...(r.extra ?? [])]);
    ok(tr, 'kws train in the container');
    const made = fs.readdirSync(path.join(project, 'models')).filter((n) => !before.includes(n));
    assert.equal(made.length, 1, made.join(', '));
    assert.ok(fs.existsSync(path.join(project, 'stats', `${made[0] as string}.json`)));
  });

  test('every command marked "run" ran', () => {
    assert.equal(failed, null, `stopped at: ${String(failed)}`);
    const notRun = COMMANDS.filter((c) => c.how === 'run' && !ran.has(c.readme)).map((c) => c.readme);
    assert.deepEqual(notRun, []);
  });
});
