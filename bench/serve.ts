/**
 * Serve benchmark (issue #5 point 8): K simulated clients on loopback, each streaming in
 * real time (1024-sample datagrams every 64 ms, kws protocol), against a `kws serve`
 * running in its own process, for increasing K. Per K it reports the p50/p99 latency from
 * sending the datagram that completed a window to receiving its result, the server's CPU
 * use (from /proc, so the clients' own CPU is not counted), dropped datagrams (sent minus
 * what the server says it received, plus the server's own drops) and missing results.
 * Target: p99 < 100 ms, nothing dropped, nothing missing. The largest K that meets it is
 * reported.
 *
 * The model: KWS_BENCH_MODEL (a model folder), or else an untrained model with the default
 * architecture and features of --type (mfcc unless told), built here: inference cost depends
 * on the architecture and the feature spec, not on the weights, so the figures hold for a
 * trained model of that type (and the bench needs no 20-minute training run).
 *
 * Clients use source addresses 127.0.0.2, 127.0.0.3, ... (50 clients per address; Linux
 * routes all of 127/8 to loopback), as distinct hosts would, so the server's per-source
 * limits (64 sessions, rate) apply as they would in the field.
 *
 * Run alone: node dist/bench/serve.js [--json] [--quick] [--k 50,100,200] [--type mfcc|spectrogram|raw] [--ensemble K]
 */
import { spawn, type ChildProcess } from 'node:child_process';
import * as dgram from 'node:dgram';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { decode, encode, int16ToPayload, MIN_HELLO_BYTES, MsgType, parseJsonPayload, SampleFormat } from '../src/stream/protocol';
import { quantile } from '../src/stream/stats';
import { kernelDrops } from '../src/stream/server';
import { MODEL_TYPES } from '../src/model/architectures';
import { MAX_ENSEMBLE } from '../src/model/ensemble';
import type { ModelType } from '../src/model/metadata';

export interface ServeBenchOptions {
  json: boolean;
  quick?: boolean;
  /** Client counts to try, in order (default 50, 100, 200, 300, 400, 500; quick: 20, 60). */
  ks?: number[];
  /** Seconds measured per K after a warm-up (default 8; quick 3). */
  seconds?: number;
  /** Type of the untrained default model built when KWS_BENCH_MODEL is unset (default mfcc). */
  type?: ModelType;
  /** Members of that model, as `kws train --ensemble` makes them (default 1). */
  ensemble?: number;
}

interface KResult {
  k: number;
  windows: number;
  latencyP50Ms: number;
  latencyP99Ms: number;
  /** Server process CPU, percent of one core. */
  serverCpuPercent: number;
  /** Datagrams the server's kernel socket dropped, plus those sent but not received by sessions that ended normally. */
  dropped: number;
  /** Sessions whose END did not come back within 20 s (the server was too far behind to say). */
  unanswered: number;
  /** Windows the server should have answered during the measurement but did not. */
  missingResults: number;
  meets: boolean;
}

export interface ServeBenchResult {
  bench: 'serve';
  model: string;
  hopMs: number;
  cores: number;
  /** 1-minute load average before and after: figures from a busy machine are not comparable. */
  loadAverage: { before: number; after: number };
  results: KResult[];
  largestK: number | null;
  target: string;
}

const CHUNK = 1024;
const CHUNK_MS = (CHUNK / 16000) * 1000;
const HOP_MS = 256;
const distRoot = path.resolve(__dirname, '..');
const repoRoot = path.resolve(distRoot, '..');

function log(json: boolean, line: string): void {
  if (!json) process.stderr.write(`${line}\n`);
}

/** An untrained model of the default architecture for `type` (K members averaged), in a temporary folder (see the file comment). */
async function buildBenchModel(type: ModelType, members: number): Promise<string> {
  const { initBackend } = await import('../src/model/backend.js');
  const { buildModel, defaultSpec, featureKindFor } = await import('../src/model/architectures.js');
  const { saveModelFolder } = await import('../src/model/store.js');
  const { averageModels, memberPrefix, memberSeed } = await import('../src/model/ensemble.js');
  const { featureSize, modelInputShape } = await import('../src/features/spec.js');
  const { tf } = await initBackend('auto');
  const spec = defaultSpec(featureKindFor(type));
  const labels = ['_background_', '_unknown_', 'go', 'no', 'stop', 'yes'];
  const parts = Array.from({ length: members }, (_, k) =>
    buildModel(tf, { type, arch: 'default', inputShape: modelInputShape(spec), numClasses: labels.length, seed: memberSeed(1, k), namePrefix: memberPrefix(k, members) }),
  );
  const model = averageModels(tf, parts, `bench_${type}_ensemble${members}`);
  const size = featureSize(spec);
  const dir = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'kws-bench-serve-')), `bench-${type}`);
  await saveModelFolder(dir, model, {
    format: 'kws-model',
    formatVersion: 1,
    name: `bench-${type}`,
    type,
    labels,
    featureSpec: spec,
    // Raw models scale by the training set's extremes; the others standardise per feature.
    stats: spec.kind === 'raw' ? { kind: 'minmax', min: -1, max: 1 } : { kind: 'standard', mean: new Array<number>(size).fill(0), std: new Array<number>(size).fill(1) },
    training: { arch: 'default', epochs: 0, batchSize: 0, learningRate: 0, valSplit: 0, splitBy: 'clip', seed: 1, augment: false, syntheticNoise: 0, ensemble: members, backend: 'none', threads: 1 },
    dataset: { fingerprint: 'untrained', clipsPerLabel: {}, trainClips: 0, valClips: 0 },
    metrics: { valAccuracy: null, trainAccuracy: null },
    kwsVersion: 'bench',
    createdAt: new Date().toISOString(),
  });
  return dir;
}

async function startServer(model: string): Promise<{ child: ChildProcess; port: number; lines: string[] }> {
  const child = spawn(process.execPath, [path.join(repoRoot, 'bin', 'kws'), 'serve', '-n', model, '-p', '0', '--host', '127.0.0.1', '--hop', String(HOP_MS), '--stats', '1', '--max-sessions', '4096'], {
    env: { ...process.env, KWS_DIST: distRoot },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  const lines: string[] = [];
  // Port 0: the server binds a free port and names it in its "listening on" line.
  let port = 0;
  await new Promise<void>((resolve, reject) => {
    let buf = '';
    const timer = setTimeout(() => reject(new Error(`kws serve did not start in 60 s:\n${lines.join('\n')}`)), 60_000);
    child.stderr?.on('data', (d: Buffer) => {
      buf += d.toString();
      let i: number;
      while ((i = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, i);
        buf = buf.slice(i + 1);
        lines.push(line);
        const m = /listening on udp [^\s]+:(\d+)/.exec(line);
        if (m) {
          port = Number(m[1]);
          clearTimeout(timer);
          resolve();
        }
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`kws serve exited with ${code}:\n${lines.join('\n')}`));
    });
  });
  return { child, port, lines };
}

/** utime + stime of a process in seconds (Linux /proc); NaN elsewhere. */
function cpuSeconds(pid: number): number {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / 100;
  } catch {
    return NaN;
  }
}

function benchAudio(): Int16Array {
  const file = path.resolve(repoRoot, '..', 'shared', 'datasets', 'stream-example', 'stream.wav');
  try {
    const buf = fs.readFileSync(file);
    // 16-bit mono PCM with a 44-byte header (checked: RIFF and the data size fit).
    if (buf.toString('latin1', 0, 4) === 'RIFF' && buf.length > 44 + 32000) return new Int16Array(buf.buffer.slice(buf.byteOffset + 44, buf.byteOffset + buf.length - ((buf.length - 44) % 2)));
  } catch {
    // fall through to synthetic audio
  }
  const out = new Int16Array(16000 * 20);
  let seed = 1;
  for (let i = 0; i < out.length; i++) {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff;
    out[i] = ((seed / 0x7fffffff) * 2 - 1) * 2000 + 4000 * Math.sin(i / 7);
  }
  return out;
}

interface Client {
  sock: dgram.Socket;
  sid: number;
  seq: number;
  /** Next audio chunk index and when it is due (performance.now()). */
  chunk: number;
  start: number;
  audioOffset: number;
  sendTimes: Map<number, number>;
  sent: number;
  endInfo: Record<string, unknown> | null;
}

async function runK(k: number, round: number, port: number, audio: Int16Array, seconds: number, serverPid: number, hopSamples: number): Promise<Omit<KResult, 'meets'>> {
  const hopMs = (hopSamples / 16000) * 1000;
  const clients: Client[] = [];
  const latencies: number[] = [];
  let measuring = false;
  let results = 0;
  for (let i = 0; i < k; i++) {
    const sock = dgram.createSocket('udp4');
    // A fresh address block per round: sessions of the previous round may still linger.
    const addr = `127.${1 + round}.${Math.floor(i / 50 / 250)}.${2 + (Math.floor(i / 50) % 250)}`;
    await new Promise<void>((r) => sock.bind(0, addr, () => r()));
    const c: Client = {
      sock,
      sid: (0x10000 + i * 7919 + Math.floor(Math.random() * 0xffff) * 65536) >>> 0 || 1,
      seq: 0,
      chunk: 0,
      start: 0,
      audioOffset: Math.floor(Math.random() * Math.max(1, audio.length / CHUNK - 200)) * CHUNK,
      sendTimes: new Map(),
      sent: 0,
      endInfo: null,
    };
    sock.on('message', (msg) => {
      const now = performance.now();
      const d = decode(msg);
      if (!d.ok) return;
      const body = parseJsonPayload(d.msg.payload);
      if (d.msg.header.type === MsgType.result && body && typeof body.seq === 'number') {
        const sentAt = c.sendTimes.get(body.seq);
        c.sendTimes.delete(body.seq);
        if (measuring && sentAt !== undefined && sentAt >= measureStart) {
          latencies.push(now - sentAt);
          results++;
        }
      } else if (d.msg.header.type === MsgType.end) {
        c.endInfo = body;
      }
    });
    clients.push(c);
  }
  const send = (c: Client, type: number, format: number, offset: number, payload: Buffer): number => {
    const seq = c.seq++;
    const buf = encode({ type: type as (typeof MsgType)[keyof typeof MsgType], format: format as (typeof SampleFormat)[keyof typeof SampleFormat], sessionId: c.sid, seq, sampleRate: 16000, offset }, payload);
    c.sock.send(buf, port, '127.0.0.1');
    c.sent++;
    return seq;
  };
  const kernel0 = kernelDrops(port) ?? 0;
  const t0 = performance.now() + 100;
  clients.forEach((c, i) => {
    send(c, MsgType.hello, SampleFormat.s16le, 0, Buffer.alloc(MIN_HELLO_BYTES));
    // Stagger the clients evenly over one classification hop: independent talkers start at
    // unrelated moments, so the datagrams that complete their windows fall anywhere in the hop.
    // (Over one chunk period only, every window of every client would complete within the same
    // 64 ms of each 256 ms hop: a burst of K windows, the worst case, not the usual one.)
    c.start = t0 + (i * hopMs) / k;
  });
  const warmup = 3000;
  const measureStart = t0 + warmup;
  const measureEnd = t0 + warmup + seconds * 1000;
  let cpu0 = NaN;
  let windowsExpected = 0;
  await new Promise<void>((resolve) => {
    const tick = setInterval(() => {
      const now = performance.now();
      if (!measuring && now >= t0 + warmup) {
        measuring = true;
        cpu0 = cpuSeconds(serverPid);
      }
      if (now >= measureEnd) {
        clearInterval(tick);
        resolve();
        return;
      }
      for (const c of clients) {
        while (c.start + c.chunk * CHUNK_MS <= now) {
          const off = (c.audioOffset + c.chunk * CHUNK) % (audio.length - CHUNK);
          const seq = send(c, MsgType.audio, SampleFormat.s16le, c.chunk * CHUNK, int16ToPayload(audio.subarray(off, off + CHUNK)));
          c.chunk++;
          // The datagram that takes the stream past a multiple of the hop completes a window.
          if (Math.floor((c.chunk * CHUNK) / hopSamples) > Math.floor(((c.chunk - 1) * CHUNK) / hopSamples)) {
            c.sendTimes.set(seq, performance.now());
            if (measuring && now + 200 < measureEnd) windowsExpected++;
          }
        }
      }
    }, 2);
  });
  const cpu1 = cpuSeconds(serverPid);
  measuring = false;
  // Let the last results arrive, then end every session and collect the server's counters.
  await new Promise((r) => setTimeout(r, 300));
  const resultsInWindow = results;
  for (const c of clients) send(c, MsgType.bye, SampleFormat.none, 0, Buffer.alloc(0));
  const deadline = performance.now() + 20_000;
  while (clients.some((c) => c.endInfo === null) && performance.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  let lostInTransit = 0;
  for (const c of clients) {
    if (typeof c.endInfo?.received === 'number') lostInTransit += Math.max(0, c.sent - c.endInfo.received);
  }
  const kernel = (kernelDrops(port) ?? 0) - kernel0;
  await Promise.all(clients.map((c) => new Promise<void>((r) => c.sock.close(() => r()))));
  return {
    k,
    windows: resultsInWindow,
    latencyP50Ms: Math.round(quantile(latencies, 0.5) * 10) / 10,
    latencyP99Ms: Math.round(quantile(latencies, 0.99) * 10) / 10,
    serverCpuPercent: Math.round(((cpu1 - cpu0) / seconds) * 1000) / 10,
    dropped: Math.max(kernel, lostInTransit),
    unanswered: clients.filter((c) => c.endInfo === null).length,
    missingResults: Math.max(0, windowsExpected - resultsInWindow),
  };
}

export async function runServeBench(opts: ServeBenchOptions): Promise<ServeBenchResult> {
  const ks = opts.ks ?? (opts.quick ? [20, 60] : [50, 100, 200, 300, 400, 500]);
  const loadBefore = os.loadavg()[0] ?? NaN;
  const seconds = opts.seconds ?? (opts.quick ? 3 : 8);
  const model = process.env.KWS_BENCH_MODEL ?? (await buildBenchModel(opts.type ?? 'mfcc', opts.ensemble ?? 1));
  log(opts.json, `serve bench: model ${model}, hop ${HOP_MS} ms, ${seconds} s measured per K after 3 s warm-up`);
  const { child, port, lines } = await startServer(model);
  // The server rounds the hop to whole feature frames; read the one it uses.
  const hopLine = lines.find((l) => / hop [0-9.]+ s/.test(l));
  const hopSeconds = Number(/ hop ([0-9.]+) s/.exec(hopLine ?? '')?.[1] ?? HOP_MS / 1000);
  const hopSamples = Math.round(hopSeconds * 16000);
  const audio = benchAudio();
  const results: KResult[] = [];
  try {
    for (const [round, k] of ks.entries()) {
      const r = await runK(k, round, port, audio, seconds, child.pid as number, hopSamples);
      const meets = r.latencyP99Ms < 100 && r.dropped === 0 && r.missingResults === 0 && r.unanswered === 0;
      results.push({ ...r, meets });
      log(
        opts.json,
        `  K=${String(k).padStart(4)}  p50 ${r.latencyP50Ms.toFixed(1).padStart(6)} ms  p99 ${r.latencyP99Ms.toFixed(1).padStart(6)} ms  server CPU ${r.serverCpuPercent.toFixed(0).padStart(3)} %  dropped ${r.dropped}  missing ${r.missingResults}${r.unanswered ? `  unanswered sessions ${r.unanswered}` : ''}  ${meets ? 'meets' : 'FAILS'} target`,
      );
      // Past the first failure the figures only get worse; stop after two failures in a row.
      if (results.length >= 2 && !results[results.length - 1]?.meets && !results[results.length - 2]?.meets) break;
      // Let the server expire nothing and settle before the next K.
      await new Promise((r) => setTimeout(r, 500));
    }
  } finally {
    child.kill('SIGTERM');
    await new Promise((r) => child.once('exit', r));
    // The server's own --stats lines (inference time, batch sizes, queue) explain a failing K.
    if (process.env.KWS_BENCH_SERVER_LOG) fs.writeFileSync(process.env.KWS_BENCH_SERVER_LOG, `${lines.join('\n')}\n`);
  }
  const passing = results.filter((r) => r.meets).map((r) => r.k);
  const out: ServeBenchResult = {
    bench: 'serve',
    model: path.basename(model),
    hopMs: HOP_MS,
    cores: os.cpus().length,
    loadAverage: { before: Math.round(loadBefore * 100) / 100, after: Math.round((os.loadavg()[0] ?? NaN) * 100) / 100 },
    results,
    largestK: passing.length > 0 ? Math.max(...passing) : null,
    target: 'p99 < 100 ms, 0 dropped, 0 missing',
  };
  log(opts.json, `serve bench: largest K meeting the target: ${out.largestK ?? 'none'} (load average ${out.loadAverage.before} before, ${out.loadAverage.after} after, ${out.cores} cores)`);
  return out;
}

if (require.main === module) {
  const args = process.argv.slice(2);
  const kArg = args.indexOf('--k');
  const ks = kArg >= 0 ? (args[kArg + 1] ?? '').split(',').map(Number).filter((n) => n > 0) : undefined;
  const typeArg = args.indexOf('--type');
  const type = typeArg >= 0 ? args[typeArg + 1] : 'mfcc';
  if (!MODEL_TYPES.includes(type as ModelType)) {
    process.stderr.write(`serve bench: --type must be one of ${MODEL_TYPES.join(', ')}, got ${type ?? 'nothing'}\n`);
    process.exit(2);
  }
  const ensembleArg = args.indexOf('--ensemble');
  const ensemble = ensembleArg >= 0 ? Number(args[ensembleArg + 1]) : 1;
  if (!Number.isInteger(ensemble) || ensemble < 1 || ensemble > MAX_ENSEMBLE) {
    process.stderr.write(`serve bench: --ensemble must be a whole number from 1 to ${MAX_ENSEMBLE}, got ${args[ensembleArg + 1] ?? 'nothing'}\n`);
    process.exit(2);
  }
  runServeBench({ json: args.includes('--json'), quick: args.includes('--quick'), ks, type: type as ModelType, ensemble })
    .then((r) => {
      if (args.includes('--json')) process.stdout.write(`${JSON.stringify(r, null, 2)}\n`);
    })
    .catch((err: unknown) => {
      process.stderr.write(`serve bench failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
      process.exit(1);
    });
}
