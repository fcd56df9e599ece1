/**
 * Feature benchmark (issue #3 point 7): seconds of audio processed per second of wall
 * time (x real time) for MFCC and log-mel with the original's spec, on 600 one-second
 * clips (one call each) and on one 600-second signal, plus the streaming extractor on
 * that signal; then torchaudio 0.13 computing the same features single-threaded
 * (bench/torchaudio_features.py under Debian's /usr/bin/python3), run right after in
 * the same process tree so the ratio compares like with like.
 *
 * Run alone: node dist/bench/features.js [--json] [--clips N] [--stream-seconds N]
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { FeatureExtractor } from '../src/features/extract';
import { StreamingFeatureExtractor } from '../src/features/streaming';
import { seedSpec, type FeatureKind } from '../src/features/spec';
import { createRng } from '../src/util/rng';

export interface FeatureBenchOptions {
  json: boolean;
  clips?: number;
  streamSeconds?: number;
  repeats?: number;
  /** Path of the torch python; null skips the reference. */
  python?: string | null;
}

interface KindResult {
  clipsXRealtime: number;
  msPerClip: number;
  streamXRealtime: number;
  /** Streaming extractor: the signal pushed in 1024-sample chunks (every frame computed once). */
  streamingXRealtime: number;
  /** currentWindow() on a 16384-sample window (cached frames + 4 padded edge frames + dB/DCT). */
  streamingWindowMs: number;
  /** FeatureExtractor.compute() on the same window, for comparison. */
  batchWindowMs: number;
}

export interface FeatureBenchResult {
  bench: 'features';
  clips: number;
  streamSeconds: number;
  node: string;
  kws: Record<'mfcc' | 'logmel', KindResult>;
  torchaudio: Record<string, number | string> | { skipped: string };
  /** kws / torchaudio throughput, > 1 means kws is faster. */
  ratio: Record<string, number> | null;
}

const SR = 16000;

function noise(n: number, seed: number): Float32Array {
  const rng = createRng(seed);
  const y = new Float32Array(n);
  for (let i = 0; i < n; i++) y[i] = 0.1 * rng.normal();
  return y;
}

function bestOf(repeats: number, fn: () => void): number {
  let best = Infinity;
  for (let r = 0; r < repeats; r++) {
    const t0 = process.hrtime.bigint();
    fn();
    best = Math.min(best, Number(process.hrtime.bigint() - t0) / 1e9);
  }
  return best;
}

function benchKind(kind: FeatureKind, clips: Float32Array[], stream: Float32Array, repeats: number): KindResult {
  // 1 s clips: the spec's window is the clip length, as torchaudio is called on 1 s tensors.
  const fe = new FeatureExtractor(seedSpec(kind, SR));
  const out = new Float32Array(fe.size);
  for (let i = 0; i < Math.min(50, clips.length); i++) fe.compute(clips[i], out); // warm-up (JIT)
  const tClips = bestOf(repeats, () => {
    for (const c of clips) fe.compute(c, out);
  });
  const whole = new FeatureExtractor(seedSpec(kind, stream.length));
  const streamOut = new Float32Array(whole.size);
  const tStream = bestOf(repeats, () => {
    whole.computeSignal(stream, streamOut);
  });
  const st = new StreamingFeatureExtractor(seedSpec(kind));
  const winOut = new Float32Array(st.size);
  const chunk = 1024;
  const tStreaming = bestOf(repeats, () => {
    st.reset();
    for (let p = 0; p < stream.length; p += chunk) st.push(stream.subarray(p, Math.min(stream.length, p + chunk)));
  });
  // Per-window cost: the server asks for a window every so often; compare with batch.
  const nWin = 2000;
  const tWindow = bestOf(repeats, () => {
    for (let i = 0; i < nWin; i++) st.currentWindow(winOut);
  });
  const batch = new FeatureExtractor(seedSpec(kind));
  const start = st.windowStart();
  const windowSamples = stream.slice(start, start + batch.spec.windowSamples);
  const tBatch = bestOf(repeats, () => {
    for (let i = 0; i < nWin; i++) batch.compute(windowSamples, winOut);
  });
  const seconds = stream.length / SR;
  return {
    clipsXRealtime: clips.length / tClips,
    msPerClip: (1000 * tClips) / clips.length,
    streamXRealtime: seconds / tStream,
    streamingXRealtime: seconds / tStreaming,
    streamingWindowMs: (1000 * tWindow) / nWin,
    batchWindowMs: (1000 * tBatch) / nWin,
  };
}

function findRepoFile(rel: string): string {
  // dist*/bench/features.js -> repository root two levels up.
  return path.resolve(__dirname, '..', '..', rel);
}

function runTorchaudio(python: string, clips: number, streamSeconds: number, repeats: number): Record<string, number | string> | { skipped: string } {
  const script = findRepoFile('bench/torchaudio_features.py');
  if (!fs.existsSync(python)) return { skipped: `${python} not found (Debian python3 with python3-torchaudio)` };
  if (!fs.existsSync(script)) return { skipped: `${script} not found` };
  const r = spawnSync(python, [script, '--clips', String(clips), '--stream-seconds', String(streamSeconds), '--repeats', String(repeats)], {
    encoding: 'utf8',
    timeout: 600_000,
  });
  if (r.status !== 0) return { skipped: `torchaudio reference failed (exit ${r.status}): ${(r.stderr || r.error?.message || '').trim().split('\n').pop() ?? ''}` };
  try {
    return JSON.parse(r.stdout.trim().split('\n').pop() ?? '') as Record<string, number | string>;
  } catch {
    return { skipped: `torchaudio reference printed no JSON: ${r.stdout.slice(0, 200)}` };
  }
}

export async function runFeatureBench(opts: FeatureBenchOptions): Promise<FeatureBenchResult> {
  const nClips = opts.clips ?? 600;
  const streamSeconds = opts.streamSeconds ?? 600;
  const repeats = opts.repeats ?? 3;
  // Progress goes to stderr in both modes; --json only changes stdout.
  const log = (s: string): void => {
    process.stderr.write(`${s}\n`);
  };
  const clips = Array.from({ length: nClips }, (_, i) => noise(SR, 1000 + i));
  const stream = noise(SR * streamSeconds, 1);
  log(`features: kws on ${nClips} x 1 s clips and one ${streamSeconds} s signal (best of ${repeats})...`);
  const kws = { mfcc: benchKind('mfcc', clips, stream, repeats), logmel: benchKind('logmel', clips, stream, repeats) };
  const python = opts.python === undefined ? '/usr/bin/python3' : opts.python;
  let torchaudio: FeatureBenchResult['torchaudio'];
  if (python === null) torchaudio = { skipped: 'disabled' };
  else {
    log('features: torchaudio reference (single-threaded)...');
    torchaudio = runTorchaudio(python, nClips, streamSeconds, repeats);
  }
  let ratio: Record<string, number> | null = null;
  if (!('skipped' in torchaudio)) {
    const ta = torchaudio as Record<string, number>;
    ratio = {
      mfccClips: kws.mfcc.clipsXRealtime / ta.mfcc_clips_x_realtime,
      mfccStream: kws.mfcc.streamXRealtime / ta.mfcc_stream_x_realtime,
      logmelClips: kws.logmel.clipsXRealtime / ta.logmel_clips_x_realtime,
      logmelStream: kws.logmel.streamXRealtime / ta.logmel_stream_x_realtime,
    };
  }
  const result: FeatureBenchResult = { bench: 'features', clips: nClips, streamSeconds, node: process.version, kws, torchaudio, ratio };
  if (!opts.json) process.stdout.write(formatResult(result));
  return result;
}

function formatResult(r: FeatureBenchResult): string {
  const x = (v: number | undefined): string => (v === undefined || !Number.isFinite(v) ? '-' : `${Math.round(v).toLocaleString('en-US')}x`);
  const ta = 'skipped' in r.torchaudio ? null : (r.torchaudio as Record<string, number | undefined>);
  const lines = [
    `Features (x real time = seconds of 16 kHz audio per second of wall time; original spec: n_fft 2048, hop 512, 128 mels)`,
    `                         kws        torchaudio   ratio`,
  ];
  const row = (label: string, k: number, t: number | undefined, ratio: number | undefined): string =>
    `  ${label.padEnd(22)} ${x(k).padStart(9)}  ${x(t).padStart(11)}   ${ratio === undefined ? '-' : `${ratio.toFixed(2)}x`}`;
  lines.push(row(`MFCC ${r.clips} x 1 s clips`, r.kws.mfcc.clipsXRealtime, ta?.mfcc_clips_x_realtime, r.ratio?.mfccClips));
  lines.push(row(`MFCC ${r.streamSeconds} s signal`, r.kws.mfcc.streamXRealtime, ta?.mfcc_stream_x_realtime, r.ratio?.mfccStream));
  lines.push(row(`log-mel ${r.clips} x 1 s clips`, r.kws.logmel.clipsXRealtime, ta?.logmel_clips_x_realtime, r.ratio?.logmelClips));
  lines.push(row(`log-mel ${r.streamSeconds} s signal`, r.kws.logmel.streamXRealtime, ta?.logmel_stream_x_realtime, r.ratio?.logmelStream));
  lines.push(row('MFCC streaming', r.kws.mfcc.streamingXRealtime, undefined, undefined));
  lines.push(row('log-mel streaming', r.kws.logmel.streamingXRealtime, undefined, undefined));
  lines.push(`  (streaming: the signal pushed in 1024-sample chunks, every frame computed once)`);
  lines.push(
    `  one 16384-sample window: streaming currentWindow() MFCC ${r.kws.mfcc.streamingWindowMs.toFixed(3)} ms, log-mel ${r.kws.logmel.streamingWindowMs.toFixed(3)} ms;` +
      ` batch compute() MFCC ${r.kws.mfcc.batchWindowMs.toFixed(3)} ms, log-mel ${r.kws.logmel.batchWindowMs.toFixed(3)} ms`,
  );
  lines.push(`  per clip: MFCC ${r.kws.mfcc.msPerClip.toFixed(3)} ms, log-mel ${r.kws.logmel.msPerClip.toFixed(3)} ms (kws)`);
  if (!ta) lines.push(`  torchaudio reference skipped: ${(r.torchaudio as { skipped: string }).skipped}`);
  else lines.push(`  torchaudio ${String(ta.torchaudio)}, torch ${String(ta.torch)}, threads ${String(ta.threads)}, run right after kws`);
  return `${lines.join('\n')}\n`;
}

function argValue(args: string[], name: string): number | undefined {
  const i = args.indexOf(name);
  if (i < 0) return undefined;
  const v = Number(args[i + 1]);
  if (!Number.isInteger(v) || v <= 0) {
    process.stderr.write(`${name} needs a positive whole number\n`);
    process.exit(2);
  }
  return v;
}

if (require.main === module) {
  const args = process.argv.slice(2);
  const json = args.includes('--json');
  runFeatureBench({
    json,
    clips: argValue(args, '--clips'),
    streamSeconds: argValue(args, '--stream-seconds'),
    repeats: argValue(args, '--repeats'),
    python: args.includes('--no-reference') ? null : undefined,
  })
    .then((r) => {
      if (json) process.stdout.write(`${JSON.stringify(r)}\n`);
    })
    .catch((err: unknown) => {
      process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
      process.exit(1);
    });
}
