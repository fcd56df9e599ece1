/**
 * Training-speed benchmark: the notebooks' three models (--arch seed) trained by kws on the shared
 * keyword set, next to PyTorch (bench/pytorch_train.py, 2 threads) training the same architecture
 * on exactly the same features, split and batch size, with the same optimiser.
 *
 *   node dist/bench/train.js [--json] [--quick] [--models mfcc,raw] [--epochs N] [--threads 1,2] [--data DIR] [--no-pytorch]
 *   node dist/bench/train.js --inference [--json]
 *
 * kws runs its real training pipeline (runTraining, nothing written): the notebooks' 60/40 split
 * with seed 42 (1,080 training clips), batch 100, Adam 0.001, the notebooks' epochs (8, 12, 17;
 * --quick: 3). Each epoch is timed from its shuffle to the end of its validation pass, in both
 * frameworks; the first epoch warms up and is left out of the median. The summary gives seconds per
 * epoch, the ratio to PyTorch and both validation accuracies. It also checks that the stock WASM
 * backend cannot train these models (no Conv2DBackpropFilter kernel).
 *
 * --inference instead times prediction (ms per window, batch 64, WASM) of each --arch default model
 * and of the mfcc default before the 20 ms hop (20x97 input, 16-32-64-64 filters), all in one
 * process and interleaved, since the server's capacity is set by the mfcc model's cost per window.
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
import { encodeNpy } from '../src/features/npy';
import { runTraining } from '../src/model/pipeline';
import { defaultTrainingThreads } from '../src/model/replicas';
import type { ModelType } from '../src/model/metadata';
import { errorMessage } from '../src/util/errors';

export interface TrainBenchOptions {
  json: boolean;
  quick?: boolean;
  models?: ModelType[];
  pytorch?: boolean;
  /** Epochs per model (default: the notebooks', quick 3). */
  epochs?: number;
  /** Thread counts to time kws with (default: the default count only). */
  threads?: number[];
  /** The keyword set (default ../shared/datasets/keywords-train next to the project). */
  data?: string;
}

export interface KwsRun {
  threads: number;
  /** Median wall-clock seconds per epoch, the first epoch left out. */
  secondsPerEpoch: number;
  epochSeconds: number[];
  valAccuracy: number | null;
  valAccuracies: Array<number | null>;
  /** secondsPerEpoch / PyTorch's, when both were measured. */
  ratioToPytorch?: number;
}

export interface ModelTiming {
  model: ModelType;
  epochs: number;
  trainClips: number;
  valClips: number;
  inputShape: number[];
  /** What happens when the stock WASM backend (without kws's kernels) trains this model. */
  stockWasm: string;
  kws: KwsRun[];
  pytorch?: { secondsPerEpoch: number; epochTimes: number[]; valAccuracy?: number; valAccuracies?: number[] } | { error: string };
}

export interface TrainBenchResult {
  benchmark: 'train';
  data: string;
  batchSize: number;
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

export function defaultDataDir(): string {
  return path.resolve(__dirname, '..', '..', '..', 'shared', 'datasets', 'keywords-train');
}

/** One training step of the seed model on the stock WASM backend, without kws's kernels. */
async function stockWasmCheck(type: ModelType): Promise<string> {
  const { tf } = await initBackend('wasm');
  registerTrainingKernels(tf, { replaceConvolutions: false, replaceSlowKernels: false });
  tf.unregisterKernel('Conv2DBackpropFilter', 'wasm');
  const shape = modelInputShape(archDefaults(type, 'seed').featureSpec);
  const model = buildModel(tf, { type, arch: 'seed', inputShape: shape, numClasses: CLASSES, seed: 42 });
  compileModel(tf, model, 0.001);
  const x = tf.randomNormal([4, ...shape]);
  const y = tf.oneHot(tf.tensor1d([0, 1, 2, 3], 'int32'), CLASSES);
  try {
    await model.trainOnBatch(x, y);
    return 'trains';
  } catch (err) {
    return `fails: ${errorMessage(err).split('\n')[0] ?? 'error'}`;
  } finally {
    tf.dispose([x, y]);
    model.dispose();
    registerTrainingKernels(tf);
  }
}

function writeFeatures(dir: string, d: { trainX: Float32Array; trainY: Int32Array; valX: Float32Array; valY: Int32Array; inputShape: number[] }): void {
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, 'train_x.npy'), encodeNpy(d.trainX, [d.trainY.length, ...d.inputShape]));
  fs.writeFileSync(path.join(dir, 'train_y.npy'), encodeNpy(d.trainY, [d.trainY.length]));
  fs.writeFileSync(path.join(dir, 'val_x.npy'), encodeNpy(d.valX, [d.valY.length, ...d.inputShape]));
  fs.writeFileSync(path.join(dir, 'val_y.npy'), encodeNpy(d.valY, [d.valY.length]));
}

function findPytorchScript(): string | null {
  for (const p of [path.resolve(__dirname, 'pytorch_train.py'), path.resolve(__dirname, '..', '..', 'bench', 'pytorch_train.py')]) {
    if (fs.existsSync(p)) return p;
  }
  return null;
}

function runPytorch(type: ModelType, featuresDir: string, epochs: number): ModelTiming['pytorch'] {
  const script = findPytorchScript();
  if (!script) return { error: 'bench/pytorch_train.py not found' };
  const python = fs.existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3';
  const r = spawnSync(python, [script, '--json', '--threads', '2', '--models', type, '--data', featuresDir, '--epochs', String(epochs), '--batch', '100'], {
    encoding: 'utf8',
    timeout: 60 * 60 * 1000,
    maxBuffer: 16 * 1024 * 1024,
  });
  if (r.status !== 0) return { error: `pytorch_train.py exited ${String(r.status)}: ${(r.stderr ?? '').trim().split('\n').pop() ?? ''}` };
  try {
    const parsed = JSON.parse(r.stdout) as { results: Array<{ secondsPerEpoch: number; epochTimes: number[]; valAccuracy?: number; valAccuracies?: number[] }> };
    const first = parsed.results[0];
    if (!first) return { error: 'pytorch_train.py reported no result' };
    return first;
  } catch (err) {
    return { error: `cannot parse pytorch_train.py output: ${errorMessage(err)}` };
  }
}

/** One model in this process: kws at each thread count, then PyTorch on the same features. */
async function benchModel(type: ModelType, opts: TrainBenchOptions): Promise<ModelTiming> {
  const data = opts.data ?? defaultDataDir();
  const epochs = opts.epochs ?? (opts.quick ? 3 : archDefaults(type, 'seed').epochs);
  const threadCounts = opts.threads ?? [defaultTrainingThreads(os.availableParallelism())];
  const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'kws-train-bench-'));
  const timing: ModelTiming = { model: type, epochs, trainClips: 0, valClips: 0, inputShape: [], stockWasm: await stockWasmCheck(type), kws: [] };
  log(`train bench: ${type}: stock wasm ${timing.stockWasm}`);
  try {
    let featuresWritten = false;
    for (const threads of threadCounts) {
      log(`train bench: ${type} on kws (wasm, ${threads} thread${threads > 1 ? 's' : ''}), ${epochs} epochs ...`);
      const r = await runTraining({
        type,
        arch: 'seed',
        dataDir: data,
        splitBy: 'clip',
        seed: 42,
        epochs,
        backend: 'wasm',
        threads,
        modelsDir: path.join(scratch, 'models'),
        statsDir: path.join(scratch, 'stats'),
        cacheDir: path.join(scratch, 'preproc'),
        crop: false,
        quiet: true,
        dryRun: true,
        onFeatures: (d) => {
          timing.trainClips = d.trainY.length;
          timing.valClips = d.valY.length;
          timing.inputShape = d.inputShape;
          if (!featuresWritten && opts.pytorch !== false) writeFeatures(path.join(scratch, 'features'), d);
          featuresWritten = true;
        },
      });
      const secs = r.history.map((h) => h.seconds);
      const run: KwsRun = {
        threads: r.threads,
        secondsPerEpoch: median(secs.length > 1 ? secs.slice(1) : secs),
        epochSeconds: secs,
        valAccuracy: r.valAccuracy,
        valAccuracies: r.history.map((h) => h.valAcc),
      };
      log(`  ${run.secondsPerEpoch.toFixed(2)} s/epoch, val acc ${run.valAccuracy === null ? '-' : `${(100 * run.valAccuracy).toFixed(1)} %`}`);
      timing.kws.push(run);
    }
    if (opts.pytorch !== false) {
      log(`train bench: ${type} on PyTorch (2 threads), ${epochs} epochs ...`);
      const torch = runPytorch(type, path.join(scratch, 'features'), epochs);
      timing.pytorch = torch;
      if (torch && 'secondsPerEpoch' in torch) {
        log(`  ${torch.secondsPerEpoch.toFixed(2)} s/epoch, val acc ${torch.valAccuracy === undefined ? '-' : `${(100 * torch.valAccuracy).toFixed(1)} %`}`);
        for (const k of timing.kws) k.ratioToPytorch = k.secondsPerEpoch / torch.secondsPerEpoch;
      } else {
        log(`  failed: ${torch ? torch.error : 'no result'}`);
      }
    }
  } finally {
    fs.rmSync(scratch, { recursive: true, force: true });
  }
  return timing;
}

/**
 * One child process per model: the WASM heap never shrinks, and after the spectrogram model (8.4 M
 * weights, 27 M-float activations) the raw model's batch-100 training no longer fits in the same heap.
 */
function runModelInChild(type: ModelType, opts: TrainBenchOptions): ModelTiming {
  const args = [__filename, '--json', '--models', type];
  if (opts.quick) args.push('--quick');
  if (opts.pytorch === false) args.push('--no-pytorch');
  if (opts.epochs !== undefined) args.push('--epochs', String(opts.epochs));
  if (opts.threads) args.push('--threads', opts.threads.join(','));
  if (opts.data) args.push('--data', opts.data);
  const r = spawnSync(process.execPath, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'], maxBuffer: 16 * 1024 * 1024, timeout: 3 * 60 * 60 * 1000 });
  const fail = (error: string): ModelTiming => ({ model: type, epochs: 0, trainClips: 0, valClips: 0, inputShape: [], stockWasm: 'not run', kws: [], pytorch: { error } });
  if (r.status !== 0) return fail(`benchmark process exited ${String(r.status ?? r.signal)}`);
  try {
    const parsed = JSON.parse(r.stdout) as TrainBenchResult;
    return parsed.models[0] ?? fail('no result');
  } catch (err) {
    return fail(`cannot parse the benchmark output: ${errorMessage(err)}`);
  }
}

export async function runTrainBench(opts: TrainBenchOptions): Promise<TrainBenchResult> {
  const data = opts.data ?? defaultDataDir();
  if (!fs.existsSync(data)) throw new Error(`the keyword set is not at ${data}; give --data DIR`);
  const models = opts.models ?? ['mfcc', 'spectrogram', 'raw'];
  const result: TrainBenchResult = {
    benchmark: 'train',
    data,
    batchSize: 100,
    loadAverageBefore: os.loadavg(),
    loadAverageAfter: [],
    cpus: os.cpus().length,
    models: [],
  };
  for (const m of models) result.models.push(models.length > 1 ? runModelInChild(m, opts) : await benchModel(m, opts));
  result.loadAverageAfter = os.loadavg();
  return result;
}

export function formatTrainBench(r: TrainBenchResult): string {
  const pct = (a: number | null | undefined): string => (a === null || a === undefined ? '-' : `${(100 * a).toFixed(1)} %`);
  const lines = [`Training speed, the notebooks' models on ${r.data}, batch ${r.batchSize} (load average ${r.loadAverageBefore.map((l) => l.toFixed(1)).join(' ')} on ${r.cpus} CPUs)`];
  for (const m of r.models) {
    lines.push(`  ${m.model}: ${m.trainClips} training / ${m.valClips} validation clips, input ${m.inputShape.join('x')}, ${m.epochs} epochs; stock wasm ${m.stockWasm}`);
    if (m.pytorch) lines.push(`    ${'pytorch (2 threads)'.padEnd(24)} ${'secondsPerEpoch' in m.pytorch ? `${m.pytorch.secondsPerEpoch.toFixed(2)} s/epoch, val acc ${pct(m.pytorch.valAccuracy)}` : `failed: ${m.pytorch.error}`}`);
    for (const k of m.kws) {
      lines.push(`    ${`kws wasm (${k.threads} thread${k.threads > 1 ? 's' : ''})`.padEnd(24)} ${k.secondsPerEpoch.toFixed(2)} s/epoch, val acc ${pct(k.valAccuracy)}${k.ratioToPytorch !== undefined ? `  (${k.ratioToPytorch.toFixed(2)}x PyTorch)` : ''}`);
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
    else if (a === '--epochs') opts.epochs = Number(argv[++i]);
    else if (a === '--threads') opts.threads = (argv[++i] ?? '').split(',').map(Number);
    else if (a === '--data') opts.data = argv[++i];
    else {
      process.stderr.write(`unknown option ${String(a)}\nusage: node dist/bench/train.js [--json] [--quick] [--models mfcc,spectrogram,raw] [--epochs N] [--threads 1,2] [--data DIR] [--no-pytorch]\n`);
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
