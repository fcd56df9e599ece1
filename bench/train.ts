/**
 * Training-speed benchmark: seconds per epoch for the notebooks' three models (--arch seed) on each
 * TensorFlow.js backend kws can use, next to PyTorch (bench/pytorch_train.py, 2 threads) training
 * the same architecture on the same number of clips with the same batch size and optimiser.
 *
 *   node dist/bench/train.js [--json] [--quick] [--models mfcc,raw] [--epochs N] [--backends LIST] [--no-pytorch]
 *   node dist/bench/train.js --inference [--json]
 *
 * --inference instead times prediction (ms per window, batch 64, WASM) of each --arch default model
 * and of the mfcc default before the 20 ms hop (20x97 input, 16-32-64-64 filters), all in one
 * process and interleaved, since the server's capacity is set by the mfcc model's cost per window.
 *
 * Backends measured:
 *   wasm-stock    @tensorflow/tfjs-backend-wasm as shipped (expected to fail: no Conv2DBackpropFilter)
 *   wasm-kws      WASM + kws's Conv2DBackpropFilter only (stock XNNPACK forward convolutions)
 *   wasm-im2col   WASM + kws's im2col convolutions for forward, input and filter gradients
 *   cpu           the pure-JS CPU backend; a few batches timed and scaled to an epoch (a full
 *                 epoch of the spectrogram model takes many minutes)
 *
 * Inputs are random tensors of each model's input shape: speed does not depend on the values, and
 * this keeps the benchmark independent of feature extraction. The timing of a model and its PyTorch
 * counterpart run back to back, because this machine's load varies from minute to minute; compare
 * the ratios, not absolute numbers from different runs.
 *
 * Owner: model core.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { initBackend, type TF } from '../src/model/backend';
import { buildModel, archDefaults, compileModel } from '../src/model/architectures';
import { registerTrainingKernels } from '../src/model/kernels';
import { modelInputShape } from '../src/features/spec';
import type { ModelType } from '../src/model/metadata';
import { errorMessage } from '../src/util/errors';

export interface TrainBenchOptions {
  json: boolean;
  quick?: boolean;
  models?: ModelType[];
  pytorch?: boolean;
  /** Training clips per epoch (default 1,080: 60 % of the 1,800-clip dataset, like the reference). */
  clips?: number;
  /** Timed epochs per measurement (default 3, quick 1). */
  epochs?: number;
  /** Which TensorFlow.js variants to time (default all; quick skips the very slow cpu). */
  backends?: string[];
}

export interface BackendTiming {
  backend: string;
  ok: boolean;
  error?: string;
  /** Median wall-clock seconds per epoch. */
  secondsPerEpoch?: number;
  /** Median process CPU seconds per epoch (less sensitive to other load on the machine). */
  cpuSecondsPerEpoch?: number;
  /** True when a few batches were timed and scaled to a whole epoch. */
  extrapolated?: boolean;
  /** secondsPerEpoch / PyTorch's, when both were measured. */
  ratioToPytorch?: number;
}

export interface ModelTiming {
  model: ModelType;
  params: number;
  inputShape: number[];
  backends: BackendTiming[];
  pytorch?: { secondsPerEpoch: number; epochTimes: number[] } | { error: string };
}

export interface TrainBenchResult {
  benchmark: 'train';
  clips: number;
  batchSize: number;
  timedEpochs: number;
  loadAverageBefore: number[];
  loadAverageAfter: number[];
  cpus: number;
  models: ModelTiming[];
}

const CLASSES = 6;

function median(xs: number[]): number {
  const s = xs.slice().sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? (s[m] as number) : ((s[m - 1] as number) + (s[m] as number)) / 2;
}

function log(msg: string): void {
  process.stderr.write(`${msg}\n`);
}

type Variant = 'wasm-stock' | 'wasm-kws' | 'wasm-im2col' | 'cpu';

async function selectVariant(variant: Variant): Promise<TF> {
  if (variant === 'cpu') return (await initBackend('cpu')).tf;
  const { tf } = await initBackend('wasm');
  registerTrainingKernels(tf, { replaceConvolutions: variant === 'wasm-im2col' });
  if (variant === 'wasm-stock') tf.unregisterKernel('Conv2DBackpropFilter', 'wasm');
  return tf;
}

async function timeVariant(variant: Variant, type: ModelType, clips: number, batchSize: number, epochs: number, quick: boolean): Promise<BackendTiming> {
  const tf = await selectVariant(variant);
  const shape = modelInputShape(archDefaults(type, 'seed').featureSpec);
  const model = buildModel(tf, { type, arch: 'seed', inputShape: shape, numClasses: CLASSES, seed: 42 });
  compileModel(tf, model, 0.001);
  // cpu: time a few batches only and scale (a full epoch would take many minutes).
  const n = variant === 'cpu' ? batchSize * (quick ? 1 : 2) : clips;
  const x = tf.randomNormal([n, ...shape], 0, 1, 'float32', 1);
  const y = tf.oneHot(tf.randomUniform([n], 0, CLASSES, 'int32', 2) as ReturnType<typeof tf.tensor1d>, CLASSES);
  try {
    // Warm-up: first calls compile kernels and grow the heap.
    await model.fit(x.slice(0, Math.min(n, batchSize)), y.slice(0, Math.min(n, batchSize)), { epochs: 1, batchSize, verbose: 0 });
    const wall: number[] = [];
    const cpu: number[] = [];
    const reps = variant === 'cpu' ? 1 : epochs;
    for (let e = 0; e < reps; e++) {
      const c0 = process.cpuUsage();
      const t0 = performance.now();
      await model.fit(x, y, { epochs: 1, batchSize, shuffle: true, verbose: 0 });
      const c = process.cpuUsage(c0);
      wall.push((performance.now() - t0) / 1000);
      cpu.push((c.user + c.system) / 1e6);
    }
    const scale = variant === 'cpu' ? Math.ceil(clips / batchSize) / Math.ceil(n / batchSize) : 1;
    const out: BackendTiming = { backend: variant, ok: true, secondsPerEpoch: median(wall) * scale, cpuSecondsPerEpoch: median(cpu) * scale };
    if (variant === 'cpu') out.extrapolated = true;
    return out;
  } catch (err) {
    return { backend: variant, ok: false, error: errorMessage(err).split('\n')[0] ?? 'failed' };
  } finally {
    tf.dispose([x, y]);
    model.dispose();
    if (variant === 'wasm-stock') registerTrainingKernels(tf);
  }
}

function findPytorchScript(): string | null {
  for (const p of [path.resolve(__dirname, 'pytorch_train.py'), path.resolve(__dirname, '..', '..', 'bench', 'pytorch_train.py')]) {
    if (fs.existsSync(p)) return p;
  }
  return null;
}

function runPytorch(type: ModelType, clips: number, batchSize: number, epochs: number): ModelTiming['pytorch'] {
  const script = findPytorchScript();
  if (!script) return { error: 'bench/pytorch_train.py not found' };
  const python = fs.existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3';
  const r = spawnSync(python, [script, '--json', '--threads', '2', '--models', type, '--clips', String(clips), '--batch', String(batchSize), '--epochs', String(epochs)], {
    encoding: 'utf8',
    timeout: 30 * 60 * 1000,
    maxBuffer: 16 * 1024 * 1024,
  });
  if (r.status !== 0) return { error: `pytorch_train.py exited ${String(r.status)}: ${(r.stderr ?? '').trim().split('\n').pop() ?? ''}` };
  try {
    const parsed = JSON.parse(r.stdout) as { results: Array<{ secondsPerEpoch: number; epochTimes: number[] }> };
    const first = parsed.results[0];
    if (!first) return { error: 'pytorch_train.py reported no result' };
    return { secondsPerEpoch: first.secondsPerEpoch, epochTimes: first.epochTimes };
  } catch (err) {
    return { error: `cannot parse pytorch_train.py output: ${errorMessage(err)}` };
  }
}

/**
 * One child process per model: the WASM heap never shrinks, and after the spectrogram model (8.4 M
 * weights, 27 M-float activations) the raw model's batch-100 training no longer fits in the same heap.
 */
function runModelInChild(type: ModelType, opts: TrainBenchOptions): ModelTiming {
  const args = [__filename, '--json', '--models', type];
  if (opts.quick) args.push('--quick');
  if (opts.pytorch === false) args.push('--no-pytorch');
  if (opts.clips !== undefined) args.push('--clips', String(opts.clips));
  if (opts.epochs !== undefined) args.push('--epochs', String(opts.epochs));
  if (opts.backends) args.push('--backends', opts.backends.join(','));
  const r = spawnSync(process.execPath, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'], maxBuffer: 16 * 1024 * 1024, timeout: 2 * 60 * 60 * 1000 });
  const fail = (error: string): ModelTiming => ({ model: type, params: 0, inputShape: [], backends: [{ backend: 'all', ok: false, error }] });
  if (r.status !== 0) return fail(`benchmark process exited ${String(r.status ?? r.signal)}`);
  try {
    const parsed = JSON.parse(r.stdout) as TrainBenchResult;
    return parsed.models[0] ?? fail('no result');
  } catch (err) {
    return fail(`cannot parse the benchmark output: ${errorMessage(err)}`);
  }
}

export async function runTrainBench(opts: TrainBenchOptions): Promise<TrainBenchResult> {
  const models0 = opts.models ?? ['mfcc', 'spectrogram', 'raw'];
  if (models0.length > 1) {
    const quick = opts.quick ?? false;
    const result: TrainBenchResult = {
      benchmark: 'train',
      clips: opts.clips ?? (quick ? 300 : 1080),
      batchSize: 100,
      timedEpochs: opts.epochs ?? (quick ? 1 : 3),
      loadAverageBefore: os.loadavg(),
      loadAverageAfter: [],
      cpus: os.cpus().length,
      models: models0.map((m) => runModelInChild(m, opts)),
    };
    result.loadAverageAfter = os.loadavg();
    return result;
  }
  return runOneProcess(opts);
}

async function runOneProcess(opts: TrainBenchOptions): Promise<TrainBenchResult> {
  const quick = opts.quick ?? false;
  const clips = opts.clips ?? (quick ? 300 : 1080);
  const batchSize = 100;
  const epochs = opts.epochs ?? (quick ? 1 : 3);
  const models = opts.models ?? ['mfcc', 'spectrogram', 'raw'];
  const result: TrainBenchResult = {
    benchmark: 'train',
    clips,
    batchSize,
    timedEpochs: epochs,
    loadAverageBefore: os.loadavg(),
    loadAverageAfter: [],
    cpus: os.cpus().length,
    models: [],
  };
  const all: Variant[] = ['wasm-stock', 'wasm-kws', 'wasm-im2col', 'cpu'];
  const variants: Variant[] = opts.backends ? all.filter((v) => opts.backends?.includes(v)) : quick ? all.slice(0, 3) : all;
  for (const type of models) {
    const { tf } = await initBackend('wasm');
    const shape = modelInputShape(archDefaults(type, 'seed').featureSpec);
    const probe = buildModel(tf, { type, arch: 'seed', inputShape: shape, numClasses: CLASSES });
    const timing: ModelTiming = { model: type, params: probe.countParams(), inputShape: shape, backends: [] };
    probe.dispose();
    for (const v of variants) {
      log(`train bench: ${type} on ${v} ...`);
      const t = await timeVariant(v, type, clips, batchSize, epochs, quick);
      log(`  ${t.ok ? `${(t.secondsPerEpoch as number).toFixed(2)} s/epoch${t.extrapolated ? ' (scaled from a few batches)' : ''}` : `failed: ${t.error}`}`);
      timing.backends.push(t);
    }
    if (opts.pytorch !== false) {
      log(`train bench: ${type} on PyTorch (2 threads) ...`);
      const torch = runPytorch(type, clips, batchSize, epochs);
      timing.pytorch = torch;
      if (torch && 'secondsPerEpoch' in torch) {
        const ref = torch.secondsPerEpoch;
        log(`  ${ref.toFixed(2)} s/epoch`);
        for (const b of timing.backends) if (b.ok && b.secondsPerEpoch !== undefined) b.ratioToPytorch = b.secondsPerEpoch / ref;
      } else {
        log(`  failed: ${torch ? torch.error : 'no result'}`);
      }
    }
    result.models.push(timing);
  }
  await initBackend('wasm');
  result.loadAverageAfter = os.loadavg();
  return result;
}

export function formatTrainBench(r: TrainBenchResult): string {
  const lines = [`Training speed, seed models, ${r.clips} clips/epoch, batch ${r.batchSize} (load average ${r.loadAverageBefore.map((l) => l.toFixed(1)).join(' ')} on ${r.cpus} CPUs)`];
  for (const m of r.models) {
    lines.push(`  ${m.model} (${m.params.toLocaleString('en')} params, input ${m.inputShape.join('x')})`);
    if (m.pytorch) lines.push(`    ${'pytorch (2 threads)'.padEnd(22)} ${'secondsPerEpoch' in m.pytorch ? `${m.pytorch.secondsPerEpoch.toFixed(2)} s/epoch` : `failed: ${m.pytorch.error}`}`);
    for (const b of m.backends) {
      const what = b.ok
        ? `${(b.secondsPerEpoch as number).toFixed(2)} s/epoch${b.ratioToPytorch !== undefined ? `  (${b.ratioToPytorch.toFixed(2)}x PyTorch)` : ''}${b.extrapolated ? '  [scaled from a few batches]' : ''}`
        : `fails: ${b.error}`;
      lines.push(`    ${b.backend.padEnd(22)} ${what}`);
    }
  }
  return lines.join('\n');
}

export interface InferenceTiming {
  model: string;
  inputShape: number[];
  params: number;
  /** Median over repetitions of wall-clock milliseconds per window at batch 64. */
  msPerWindow: number;
  /** The same in process CPU time: WASM runs on one thread, and CPU time is far less disturbed by other load. */
  cpuMsPerWindow: number;
}

/** The mfcc default until the 20 ms hop: kept here only as the cost baseline. */
function previousMfccDefault(tf: TF): ReturnType<typeof buildModel> {
  const L = tf.layers;
  const layers = [];
  [16, 32, 64, 64].forEach((filters, i) => {
    layers.push(L.conv2d({ filters, kernelSize: 3, padding: 'same', useBias: false, ...(i === 0 ? { inputShape: [20, 97, 1] } : {}) }));
    layers.push(L.batchNormalization({}), L.activation({ activation: 'relu' }));
    if (i < 3) layers.push(L.maxPooling2d({ poolSize: 2 }));
  });
  layers.push(L.globalAveragePooling2d({}), L.dropout({ rate: 0.3 }), L.dense({ units: CLASSES, activation: 'softmax' }));
  return tf.sequential({ layers });
}

export async function runInferenceBench(): Promise<InferenceTiming[]> {
  const { tf } = await initBackend('wasm');
  const batch = 64;
  const models: { name: string; model: ReturnType<typeof buildModel>; shape: number[] }[] = [
    { name: 'mfcc default before (hop 160, 16-32-64-64)', model: previousMfccDefault(tf), shape: [20, 97, 1] },
  ];
  for (const type of ['mfcc', 'spectrogram', 'raw'] as ModelType[]) {
    const shape = modelInputShape(archDefaults(type, 'default').featureSpec);
    models.push({ name: `${type} default`, model: buildModel(tf, { type, arch: 'default', inputShape: shape, numClasses: CLASSES }), shape });
  }
  const xs = models.map((m) => tf.randomNormal([batch, ...m.shape], 0, 1, 'float32', 1));
  const run = (i: number): void => {
    tf.tidy(() => (models[i]?.model.predict(xs[i] as ReturnType<typeof tf.randomNormal>) as ReturnType<typeof tf.randomNormal>).dataSync());
  };
  models.forEach((_, i) => {
    for (let w = 0; w < 3; w++) run(i);
  });
  const times: number[][] = models.map(() => []);
  const cpuTimes: number[][] = models.map(() => []);
  // Interleaved repetitions, so load that comes and goes hits every model alike.
  for (let rep = 0; rep < 9; rep++) {
    models.forEach((_, i) => {
      const c0 = process.cpuUsage();
      const t0 = performance.now();
      for (let k = 0; k < 4; k++) run(i);
      const c = process.cpuUsage(c0);
      times[i]?.push((performance.now() - t0) / 4 / batch);
      cpuTimes[i]?.push((c.user + c.system) / 1000 / 4 / batch);
    });
  }
  const out = models.map((m, i) => ({
    model: m.name,
    inputShape: m.shape,
    params: m.model.countParams(),
    msPerWindow: median(times[i] as number[]),
    cpuMsPerWindow: median(cpuTimes[i] as number[]),
  }));
  tf.dispose(xs);
  for (const m of models) m.model.dispose();
  return out;
}

function parseArgs(argv: string[]): TrainBenchOptions & { inference?: boolean } {
  const opts: TrainBenchOptions & { inference?: boolean } = { json: false };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--json') opts.json = true;
    else if (a === '--quick') opts.quick = true;
    else if (a === '--no-pytorch') opts.pytorch = false;
    else if (a === '--inference') opts.inference = true;
    else if (a === '--models') opts.models = (argv[++i] ?? '').split(',').filter((m): m is ModelType => m === 'mfcc' || m === 'spectrogram' || m === 'raw');
    else if (a === '--clips') opts.clips = Number(argv[++i]);
    else if (a === '--epochs') opts.epochs = Number(argv[++i]);
    else if (a === '--backends') opts.backends = (argv[++i] ?? '').split(',');
    else {
      process.stderr.write(`unknown option ${String(a)}\nusage: node dist/bench/train.js [--json] [--quick] [--models mfcc,spectrogram,raw] [--clips N] [--epochs N] [--backends wasm-stock,wasm-kws,wasm-im2col,cpu] [--no-pytorch]\n`);
      process.exit(2);
    }
  }
  return opts;
}

if (require.main === module) {
  const opts = parseArgs(process.argv.slice(2));
  const fail = (err: unknown): void => {
    process.stderr.write(`train bench failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exit(1);
  };
  if (opts.inference) {
    runInferenceBench()
      .then((r) => {
        const text = r.map((t) => `${t.model.padEnd(46)} ${t.msPerWindow.toFixed(3)} ms/window wall, ${t.cpuMsPerWindow.toFixed(3)} ms CPU  (input ${t.inputShape.join('x')}, ${t.params.toLocaleString('en')} params)`).join('\n');
        process.stdout.write(opts.json ? `${JSON.stringify(r)}\n` : `${text}\n`);
      })
      .catch(fail);
  } else {
    runTrainBench(opts)
      .then((r) => {
        process.stdout.write(opts.json ? `${JSON.stringify(r)}\n` : `${formatTrainBench(r)}\n`);
      })
      .catch(fail);
  }
}
