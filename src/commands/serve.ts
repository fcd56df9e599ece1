/**
 * `kws serve`: the UDP recognition server (src/stream/server.ts) with a trained model.
 * The model's own metadata decides the features; -m/-s/-1 only double-check it.
 */
import { Option, type Command } from 'commander';
import { intArg, numberArg } from './args';
import { ExitCode, UserError, errnoCode, usageError } from '../util/errors';
import type { ModelType } from '../model/metadata';

interface ServeFlags {
  name?: string;
  mfcc?: boolean;
  spectrogram?: boolean;
  conv1d?: boolean;
  port: number;
  host: string;
  hop: number;
  smooth: number;
  stats?: number | true;
  token?: string;
  maxSessions: number;
  maxSessionsPerSource: number;
  idle: number;
  backend: string;
  modelsDir: string;
  inferenceThread: boolean;
}

const TYPE_FLAGS: { flag: keyof ServeFlags; option: string; type: ModelType }[] = [
  { flag: 'mfcc', option: '-m', type: 'mfcc' },
  { flag: 'spectrogram', option: '-s', type: 'spectrogram' },
  { flag: 'conv1d', option: '-1', type: 'raw' },
];

export function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\./.test(host);
}

export function define(program: Command): void {
  program
    .command('serve')
    .description('recognise audio streamed over UDP (kws protocol and the original raw-PCM client)')
    .addOption(new Option('-n, --name <model>', 'model name under --models-dir, or a path to a model folder (also $KWS_MODEL)').env('KWS_MODEL').makeOptionMandatory())
    .option('-m, --mfcc', 'expect an MFCC model (optional: the model says what it is)')
    .option('-s, --spectrogram', 'expect a spectrogram model (optional)')
    .option('-1, --conv1d', 'expect a raw-waveform (1-D convolution) model (optional)')
    .addOption(new Option('-p, --port <port>', 'UDP port').argParser(intArg('--port', 0, 65535)).default(4444))
    .addOption(new Option('--host <address>', 'address to listen on (0.0.0.0 = every interface; then set --token)').default('127.0.0.1'))
    .addOption(new Option('--hop <ms>', 'classify each stream every this many milliseconds of audio (the original: 256)').argParser(numberArg('--hop', 10, 10_000)).default(256))
    .addOption(new Option('--smooth <windows>', 'report the mean probabilities of this many newest windows of a stream (edges weighted 1/2; 1 = off): fewer false hits, a little more delay').argParser(intArg('--smooth', 1, 16)).default(4))
    .addOption(new Option('--stats [seconds]', 'print a stats line every this many seconds (default 10 when given)').argParser(numberArg('--stats', 0.1, 86_400)))
    .addOption(new Option('--token <secret>', 'accept only datagrams authenticated with this shared secret (also $KWS_TOKEN)').env('KWS_TOKEN'))
    .addOption(new Option('--max-sessions <n>', 'most concurrent streams').argParser(intArg('--max-sessions', 1, 1_000_000)).default(1024))
    .addOption(new Option('--max-sessions-per-source <n>', 'most concurrent streams from one IP address').argParser(intArg('--max-sessions-per-source', 1, 1_000_000)).default(64))
    .addOption(new Option('--idle <seconds>', 'forget a stream silent for this long').argParser(numberArg('--idle', 1, 86_400)).default(30))
    .addOption(new Option('--backend <name>', 'TensorFlow.js backend: auto, tfjs-node, wasm or cpu').choices(['auto', 'tfjs-node', 'wasm', 'cpu']).default('auto'))
    .addOption(new Option('--models-dir <dir>', 'where model folders are').default('models'))
    .option('--no-inference-thread', 'run the model on the main thread instead of a second one (default: a second thread)')
    .addHelpText(
      'after',
      `
Protocol: docs/protocol.md (kws v1: header, sequence numbers, HMAC with --token). A datagram
without the kws header is read as the original client's raw 16 kHz int16 PCM and answered
with the original's JSON, {"label": "yes", "probability": 0.93}.

Examples:
  $ kws serve -n mfccmodel1700000000
  $ kws serve -n models/mfcc1 --host 0.0.0.0 --token "$(cat ~/.kws-token)" --stats
  $ kws serve -n mfcc1 -p 5555 --hop 128      # more frequent windows, more CPU`,
    )
    .action(async (flags: ServeFlags) => {
      await runServe(flags);
    });
}

async function runServe(flags: ServeFlags): Promise<void> {
  const name = flags.name as string;
  const { readModelMetadata } = await import('../model/store.js');
  const { meta, dir } = await readModelMetadata(name, { modelsDir: flags.modelsDir });
  const asked = TYPE_FLAGS.filter((t) => flags[t.flag] === true);
  if (asked.length > 1) throw usageError(`conflicting model types: ${asked.map((a) => a.option).join(' and ')}`, 'Give at most one of -m, -s, -1 (or none: the model says what it is).');
  const want = asked[0];
  if (want && want.type !== meta.type) {
    throw usageError(`${want.option} says a ${want.type} model, but '${name}' is a ${meta.type} model`, `Drop ${want.option}: the model's metadata decides its preprocessing.`);
  }
  if (flags.token !== undefined && flags.token.length < 8) throw usageError('--token is too short (use at least 8 characters)', 'e.g. --token "$(openssl rand -hex 16)"');
  if (!isLoopback(flags.host) && !flags.token) {
    process.stderr.write(`kws serve: warning: listening on ${flags.host} without --token: anyone who can reach this port can stream to it.\n`);
  }

  const { KwsServer, SERVER_DEFAULTS, statsLine } = await import('../stream/server.js');
  const { parseBackendChoice } = await import('../model/backend.js');
  const backend = parseBackendChoice(flags.backend);
  let engine: import('../stream/engine.js').InferenceEngine & { backend: string };
  let workerEngine: import('../stream/worker-engine.js').WorkerEngine | null = null;
  if (flags.inferenceThread) {
    // The model on a second thread: inference overlaps with reading datagrams and features.
    const { WorkerEngine } = await import('../stream/worker-engine.js');
    workerEngine = await WorkerEngine.start(dir, backend);
    engine = workerEngine;
  } else {
    const { ModelEngine } = await import('../stream/model-engine.js');
    engine = await ModelEngine.load(dir, { backend, tuneConvolutions: true });
  }
  // Windows are hop-aligned in the feature extractor, so the classification hop is a whole number of frames.
  const frames = Math.max(1, Math.round((flags.hop / 1000) * engine.sampleRate / engine.frameHop));
  const hopSamples = frames * engine.frameHop;
  const server = new KwsServer({
    ...SERVER_DEFAULTS,
    rate: { ...SERVER_DEFAULTS.rate },
    engine,
    host: flags.host,
    port: flags.port,
    hopSamples,
    smoothWindows: flags.smooth,
    token: flags.token,
    maxSessions: flags.maxSessions,
    maxSessionsPerSource: flags.maxSessionsPerSource,
    idleMs: flags.idle * 1000,
    log: (line) => process.stderr.write(`${line}\n`),
  });
  try {
    await server.start();
  } catch (err) {
    const code = errnoCode(err);
    if (code === 'EADDRINUSE') throw new UserError(`UDP port ${flags.port} on ${flags.host} is already in use (another kws serve?)`, { exitCode: ExitCode.network, hint: 'Stop the other server or pick another port with -p.' });
    if (code === 'EADDRNOTAVAIL' || code === 'ENOTFOUND' || code === 'EINVAL') throw new UserError(`cannot listen on ${flags.host}: not an address of this machine`, { exitCode: ExitCode.network, hint: 'Use 127.0.0.1 (this machine only) or 0.0.0.0 (every interface).' });
    if (code === 'EACCES') throw new UserError(`not allowed to listen on port ${flags.port}`, { exitCode: ExitCode.network, hint: 'Ports below 1024 need privileges; use the default 4444.' });
    throw err;
  }
  // The handlers go in before the "listening" line: whoever reads it (a supervisor, `docker stop`,
  // a test) may signal at once, and a SIGTERM before process.on() would kill the process uncleanly.
  let fatal: Error | null = null;
  const stopped = new Promise<void>((resolve) => {
    const finish = (): void => {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      resolve();
    };
    const stop = (signal: NodeJS.Signals): void => {
      process.stderr.write(`kws serve: ${signal === 'SIGINT' ? 'Ctrl+C' : signal}: stopping\n`);
      finish();
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
    if (workerEngine) {
      workerEngine.onFatal = (err) => {
        fatal = err;
        finish();
      };
    }
  });
  const addr = server.address;
  const secs = (n: number): string => `${(n / engine.sampleRate).toFixed(3).replace(/\.?0+$/, '')} s`;
  process.stderr.write(
    `kws serve: model ${engine.name} (${meta.type}${meta.training.ensemble > 1 ? `, ensemble of ${meta.training.ensemble}: up to ${meta.training.ensemble}x the work per window` : ''}; ${engine.labels.join(', ')}), window ${secs(engine.windowSamples)}, hop ${secs(hopSamples)}, backend ${engine.backend}\n` +
      `kws serve: listening on udp ${addr.address}:${addr.port}${flags.token ? ' (token required)' : ''}; Ctrl+C stops\n`,
  );

  let statsTimer: NodeJS.Timeout | null = null;
  if (flags.stats !== undefined) {
    const every = flags.stats === true ? 10 : flags.stats;
    let prev = server.stats();
    let last = performance.now();
    statsTimer = setInterval(() => {
      const now = performance.now();
      const cur = server.stats();
      process.stderr.write(`${statsLine(prev, cur, (now - last) / 1000, server.takeTimings())}\n`);
      prev = cur;
      last = now;
    }, every * 1000);
  }

  await stopped;
  if (statsTimer) clearInterval(statsTimer);
  const st = server.stats();
  await server.stop();
  const dropped = Object.entries(st.dropped).filter(([, n]) => n > 0).map(([k, n]) => `${k} ${n}`);
  process.stderr.write(
    `kws serve: stopped after ${st.datagrams} datagrams, ${st.windows} windows classified; dropped: ${dropped.length ? dropped.join(', ') : 'none'}` +
      `${st.kernelDrops ? `, kernel ${st.kernelDrops}` : ''}; lost ${st.lost}, duplicate ${st.duplicate}, late ${st.late}\n`,
  );
  if (fatal !== null) {
    throw new UserError(`the inference thread died (${(fatal as Error).message}); nothing can be recognised, so the server stopped`, {
      exitCode: ExitCode.internal,
      hint: 'Run `kws serve --no-inference-thread` to see the error on the main thread, and report it if it repeats.',
    });
  }
}
