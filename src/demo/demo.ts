/**
 * `kws demo`: the whole product in one command, on material that ships with kws.
 * It starts the real `kws serve` on a free local port with the shipped model, streams
 * the shipped recording through the real `kws stream`, and prints each hit next to the
 * word that was really said there, then a one-line score. Child processes, not
 * in-process calls, so the demo exercises exactly what a user runs.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { promises as fsp } from 'node:fs';
import * as path from 'node:path';
import { ExitCode, UserError, errorMessage, inputError } from '../util/errors';
import { PACKAGE_ROOT } from '../version';
import { parseLabels, scoreHits, type Hit, type LabelledWord, type ScoreReport } from '../stream/scoring';

export const DEMO_DIR = path.join(PACKAGE_ROOT, 'assets', 'demo');
export const DEMO_MODEL = path.join(DEMO_DIR, 'model');
export const DEMO_RECORDING = path.join(DEMO_DIR, 'stream.wav');
export const DEMO_LABELS = path.join(DEMO_DIR, 'stream.labels.json');

export interface DemoOptions {
  model: string;
  recording: string;
  labels: string;
  /** Stream at the pace of a live microphone instead of as fast as possible. */
  realtime: boolean;
  threshold: number;
  backend: string;
  /** Print lines as they happen (false for --json). */
  log: (line: string) => void;
}

export interface DemoResult {
  model: string;
  recording: string;
  hits: (Hit & { word: LabelledWord | null })[];
  score: ScoreReport;
  seconds: number;
}

const KWS_BIN = path.join(PACKAGE_ROOT, 'bin', 'kws');

function startKws(args: string[]): ChildProcess {
  return spawn(process.execPath, [KWS_BIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: process.env });
}

/** Resolve with the port once `kws serve` says it is listening; reject if it exits first. */
function waitForListening(server: ChildProcess): Promise<number> {
  return new Promise((resolve, reject) => {
    let err = '';
    const onData = (d: Buffer): void => {
      err += d.toString();
      const m = /listening on udp [^\s]+:(\d+)/.exec(err);
      if (m) {
        server.stderr?.off('data', onData);
        resolve(Number(m[1]));
      }
    };
    server.stderr?.on('data', onData);
    server.once('close', (code) => reject(new UserError(`the demo server stopped before it was ready (exit ${String(code)}):\n${err.trim()}`, { exitCode: ExitCode.internal })));
  });
}

function exitOf(child: ChildProcess): Promise<number | null> {
  if (child.exitCode !== null) return Promise.resolve(child.exitCode);
  return new Promise((resolve) => child.once('close', (code) => resolve(code)));
}

/** The labelled word a hit belongs to: same label, within the scoring tolerance of its span. */
function wordFor(hit: Hit, words: readonly LabelledWord[], tolerance: number): LabelledWord | null {
  let best: LabelledWord | null = null;
  let bestGap = Infinity;
  for (const w of words) {
    const gap = hit.t < w.start ? w.start - hit.t : hit.t > w.end ? hit.t - w.end : 0;
    if (gap <= tolerance && gap < bestGap && (w.label === hit.label || best === null)) {
      best = w;
      bestGap = gap;
    }
  }
  return best;
}

/** What the demo checked before starting anything: the labelled words and the recording's length. */
export interface DemoInputs {
  words: LabelledWord[];
  /** The model's keywords (labels not starting with "_"), for the header. */
  keywords: string[];
  recordingSeconds: number;
}

/**
 * Check every input before the demo prints or starts anything, so a wrong path is the only
 * thing the user sees (not a header followed by an error): the model must be a model folder,
 * the recording a readable WAV, the labels a valid label file.
 */
export async function checkDemoInputs(opts: Pick<DemoOptions, 'model' | 'recording' | 'labels'>): Promise<DemoInputs> {
  for (const [what, p] of [['model', opts.model], ['recording', opts.recording], ['labels', opts.labels]] as const) {
    try {
      await fsp.access(p);
    } catch {
      // Only the shipped material is fixed by reinstalling; a path the user gave is theirs to check.
      const shipped = [DEMO_MODEL, DEMO_RECORDING, DEMO_LABELS].includes(path.resolve(p));
      throw new UserError(`the demo ${what} is missing: ${p}`, {
        hint: shipped ? 'Reinstall kws (git checkout / npm install) so assets/demo/ is complete.' : `Check the path given to --${what}.`,
      });
    }
  }
  // The metadata alone (no TensorFlow.js): a file or an incomplete folder fails here, named.
  const { readModelMetadata } = await import('../model/store.js');
  const { meta } = await readModelMetadata(opts.model);
  let words: LabelledWord[];
  try {
    words = parseLabels(await fsp.readFile(opts.labels, 'utf8'));
  } catch (err) {
    // parseLabels names the problem but not the file (as for `kws score`).
    throw inputError(`${opts.labels}: ${errorMessage(err)}`);
  }
  const keywords = meta.labels.filter((l) => !l.startsWith('_'));
  return { words, keywords, recordingSeconds: await recordingSeconds(opts.recording) };
}

/** Run the demo on inputs already checked by checkDemoInputs. */
export async function runDemo(opts: DemoOptions, inputs: DemoInputs): Promise<DemoResult> {
  const { words } = inputs;
  const started = Date.now();
  let client: ChildProcess | null = null;
  let server: ChildProcess | null = null;
  // Ctrl+C in a terminal reaches the children too, but a signal sent to this process
  // alone (a script, a supervisor) must not leave the server running on its own.
  const stopChildren = (): void => {
    if (client && client.exitCode === null) client.kill('SIGINT');
    if (server && server.exitCode === null) server.kill('SIGINT');
  };
  const onSignal = (signal: NodeJS.Signals): void => process.exit(signal === 'SIGINT' ? 130 : 143);
  // Installed before the server starts: whoever sees it running may signal at once, and a
  // signal with no handler yet would kill this process and leave the server behind.
  process.once('exit', stopChildren);
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    server = startKws(['serve', '-n', opts.model, '--port', '0', '--host', '127.0.0.1', '--backend', opts.backend]);
    const port = await waitForListening(server);
    opts.log(`server: kws serve on udp 127.0.0.1:${port} with the demo model`);
    opts.log(`client: kws stream ${path.relative(process.cwd(), opts.recording) || opts.recording} (${opts.realtime ? 'real time' : 'as fast as the server answers'})\n`);
    const args = ['stream', '--port', String(port), '--host', '127.0.0.1', '--input', opts.recording, '--json', '--threshold', String(opts.threshold)];
    if (!opts.realtime) args.push('--fast');
    client = startKws(args);
    const hits: DemoResult['hits'] = [];
    let pending = '';
    let clientErr = '';
    client.stderr?.on('data', (d: Buffer) => (clientErr += d.toString()));
    client.stdout?.on('data', (d: Buffer) => {
      pending += d.toString();
      let nl: number;
      while ((nl = pending.indexOf('\n')) >= 0) {
        const line = pending.slice(0, nl).trim();
        pending = pending.slice(nl + 1);
        if (!line) continue;
        const h = JSON.parse(line) as { label: string; probability: number; t: number };
        const hit: Hit = { label: h.label, probability: h.probability, t: h.t };
        const word = wordFor(hit, words, 1.5);
        hits.push({ ...hit, word });
        const said = word ? `said "${(word as LabelledWord & { word?: string }).word ?? word.label}" at ${word.start.toFixed(2)} s` : 'nothing said near here';
        const mark = word && word.label === hit.label ? 'ok   ' : 'WRONG';
        opts.log(`  ${hit.t.toFixed(2).padStart(6)} s  hit ${hit.label.padEnd(8)} ${hit.probability.toFixed(2)}   ${mark} ${said}`);
      }
    });
    const code = await exitOf(client);
    if (code !== 0) throw new UserError(`kws stream failed (exit ${String(code)}): ${clientErr.trim()}`, { exitCode: ExitCode.internal });
    const score = scoreHits(words, hits, inputs.recordingSeconds);
    for (const w of score.missed) opts.log(`  missed: "${(w as LabelledWord & { word?: string }).word ?? w.label}" (${w.label}) at ${w.start.toFixed(2)} s`);
    return { model: opts.model, recording: opts.recording, hits, score, seconds: (Date.now() - started) / 1000 };
  } finally {
    process.off('exit', stopChildren);
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    if (client && client.exitCode === null) client.kill('SIGINT');
    if (server && server.exitCode === null) {
      server.kill('SIGINT');
      const stopped = await Promise.race([exitOf(server), new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), 5000))]);
      if (stopped === 'timeout') server.kill('SIGKILL');
    }
  }
}

async function recordingSeconds(file: string): Promise<number> {
  const { readWavFile } = await import('../audio/wav.js');
  const wav = await readWavFile(file);
  return (wav.data[0]?.length ?? 0) / wav.sampleRate;
}

export function demoErrorHint(err: unknown): string {
  return errorMessage(err);
}
