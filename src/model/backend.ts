/**
 * The one place that decides which TensorFlow.js backend runs.
 *
 * Order for 'auto': @tensorflow/tfjs-node (an optionalDependency: native TensorFlow, fastest, but its
 * install downloads libtensorflow and so fails on machines without general internet), then
 * @tensorflow/tfjs with the WASM backend plus kws's own training kernels (src/model/kernels), then
 * the pure-JS CPU backend. The environment variable KWS_BACKEND (auto|tfjs-node|wasm|cpu) overrides
 * 'auto', so a person or a test can pin a backend without a flag on every command.
 *
 * Everything heavy is imported lazily: importing this module costs nothing until initBackend runs,
 * which keeps `kws --help` fast.
 *
 * Owner: model core.
 */
import { createRequire } from 'node:module';
import { UserError, ExitCode, errorMessage } from '../util/errors';
// Light: type imports and plain loops only; TensorFlow.js itself is passed in at run time.
import { registerTrainingKernels } from './kernels';

/** The TensorFlow.js namespace; @tensorflow/tfjs-node re-exports the same API. */
export type TF = typeof import('@tensorflow/tfjs');

export type BackendChoice = 'auto' | 'tfjs-node' | 'wasm' | 'cpu';
export const BACKEND_CHOICES: readonly BackendChoice[] = ['auto', 'tfjs-node', 'wasm', 'cpu'];

export interface BackendInfo {
  tf: TF;
  /** The active TensorFlow.js backend name: 'tensorflow' (tfjs-node), 'wasm' or 'cpu'. */
  name: string;
  /** Why a faster backend was not used, for a person reading `kws doctor` or a training log. */
  note?: string;
}

export interface BackendAttempt {
  backend: Exclude<BackendChoice, 'auto'>;
  ok: boolean;
  /** Why it failed (absent when ok). */
  reason?: string;
}

export interface BackendReport {
  /** Active backend name, or null before initBackend ran. */
  active: string | null;
  requested: BackendChoice | null;
  attempts: BackendAttempt[];
  /** The reason @tensorflow/tfjs-node is not in use, if it was tried and failed. */
  tfjsNodeUnavailable?: string;
  wasm?: { simd: boolean; threads: number };
  /** kws kernels registered on top of the stock backend (e.g. Conv2DBackpropFilter for wasm). */
  customKernels: string[];
  tfjsVersion: string | null;
}

const TFJS_NODE = '@tensorflow/tfjs-node';

let state: { info: BackendInfo; requested: BackendChoice } | null = null;
let pending: Promise<BackendInfo> | null = null;
const attempts: BackendAttempt[] = [];
let tfjsNodeFailure: string | undefined;
let customKernels: string[] = [];
let wasmDetails: { simd: boolean; threads: number } | undefined;

/** KWS_BACKEND, validated; an unknown value is a usage mistake a person can fix. */
export function backendFromEnv(): BackendChoice | undefined {
  const raw = process.env['KWS_BACKEND'];
  if (raw === undefined || raw === '') return undefined;
  if ((BACKEND_CHOICES as readonly string[]).includes(raw)) return raw as BackendChoice;
  throw new UserError(`KWS_BACKEND=${raw} is not a backend kws knows`, {
    exitCode: ExitCode.usage,
    hint: `Use one of: ${BACKEND_CHOICES.join(', ')} (or unset it).`,
  });
}

/** Parse a `--backend` option value. */
export function parseBackendChoice(value: string): BackendChoice {
  if ((BACKEND_CHOICES as readonly string[]).includes(value)) return value as BackendChoice;
  throw new UserError(`unknown backend '${value}'`, { exitCode: ExitCode.usage, hint: `Use one of: ${BACKEND_CHOICES.join(', ')}.` });
}

function record(backend: BackendAttempt['backend'], ok: boolean, reason?: string): void {
  attempts.push(reason === undefined ? { backend, ok } : { backend, ok, reason });
}

/** Quiet tfjs: no "install tfjs-node" banner on stderr, no per-op debug checks. */
function quiet(tf: TF): void {
  tf.env().set('PROD', true);
}

async function loadTfjsNode(): Promise<TF> {
  // require(), not import(): tfjs-node is CommonJS whose API is re-exported with __exportStar,
  // which ESM named-export detection may miss. The cast is safe: it re-exports @tensorflow/tfjs.
  const mod = createRequire(__filename)(TFJS_NODE) as TF;
  quiet(mod);
  await mod.ready();
  if (mod.getBackend() !== 'tensorflow') await mod.setBackend('tensorflow');
  return mod;
}

async function loadTfjs(): Promise<TF> {
  const tf = await import('@tensorflow/tfjs');
  quiet(tf);
  return tf;
}

async function startWasm(tf: TF): Promise<void> {
  const wasm = await import('@tensorflow/tfjs-backend-wasm');
  const ok = await tf.setBackend('wasm');
  if (!ok) throw new Error('tf.setBackend("wasm") returned false (the WebAssembly module did not initialise)');
  await tf.ready();
  customKernels = registerTrainingKernels(tf);
  wasmDetails = {
    simd: Boolean(await tf.env().getAsync('WASM_HAS_SIMD_SUPPORT')),
    threads: wasm.getThreadsCount(),
  };
}

async function startCpu(tf: TF): Promise<void> {
  const ok = await tf.setBackend('cpu');
  if (!ok) throw new Error('tf.setBackend("cpu") returned false');
  await tf.ready();
}

async function resolve(choice: BackendChoice): Promise<BackendInfo> {
  const wanted = choice === 'auto' ? (backendFromEnv() ?? 'auto') : choice;
  const notes: string[] = [];

  if (wanted === 'tfjs-node' || wanted === 'auto') {
    try {
      const tf = await loadTfjsNode();
      record('tfjs-node', true);
      return { tf, name: tf.getBackend() };
    } catch (err) {
      tfjsNodeFailure = describeTfjsNodeFailure(err);
      record('tfjs-node', false, tfjsNodeFailure);
      if (wanted === 'tfjs-node') {
        throw new UserError(`the tfjs-node backend is not available: ${tfjsNodeFailure}`, {
          exitCode: ExitCode.dependency,
          hint: 'Install it with `npm install @tensorflow/tfjs-node` (needs internet access to download libtensorflow), or use --backend wasm.',
        });
      }
      notes.push(`tfjs-node not available (${tfjsNodeFailure})`);
    }
  }

  const tf = await loadTfjs();
  if (wanted === 'wasm' || wanted === 'auto') {
    try {
      await startWasm(tf);
      record('wasm', true);
      return notes.length > 0 ? { tf, name: 'wasm', note: notes.join('; ') } : { tf, name: 'wasm' };
    } catch (err) {
      const reason = errorMessage(err);
      record('wasm', false, reason);
      if (wanted === 'wasm') {
        throw new UserError(`the WASM backend could not start: ${reason}`, {
          exitCode: ExitCode.dependency,
          hint: 'Check that node_modules/@tensorflow/tfjs-backend-wasm is installed intact, or use --backend cpu (much slower).',
        });
      }
      notes.push(`wasm failed (${reason})`);
    }
  }

  try {
    await startCpu(tf);
    record('cpu', true);
  } catch (err) {
    const reason = errorMessage(err);
    record('cpu', false, reason);
    throw new UserError(`no TensorFlow.js backend could start: ${reason}`, {
      exitCode: ExitCode.dependency,
      hint: 'Reinstall kws (npm ci) so that @tensorflow/tfjs is present.',
    });
  }
  if (wanted === 'auto') notes.push('using the slow pure-JS CPU backend');
  return notes.length > 0 ? { tf, name: 'cpu', note: notes.join('; ') } : { tf, name: 'cpu' };
}

function describeTfjsNodeFailure(err: unknown): string {
  const msg = errorMessage(err);
  if (/Cannot find (module|package) '@tensorflow\/tfjs-node'/.test(msg)) return 'the optional package @tensorflow/tfjs-node is not installed';
  return msg.split('\n')[0] ?? msg;
}

/**
 * Start (or return) the TensorFlow.js backend. Idempotent: 'auto' after any successful start
 * returns what is running; an explicit choice different from the running backend switches to it
 * (tensors move between backends lazily, so a model built on one keeps working on the other).
 */
export async function initBackend(choice: BackendChoice = 'auto'): Promise<BackendInfo> {
  if (pending) await pending.catch(() => undefined);
  if (state) {
    const current = state.info;
    const same = choice === 'auto' || choice === state.requested || (choice === 'tfjs-node' && current.name === 'tensorflow') || choice === current.name;
    if (same) {
      // Another caller may have switched tf's global backend in between; put ours back.
      if (current.tf.getBackend() !== current.name) await current.tf.setBackend(current.name);
      return current;
    }
  }
  pending = resolve(choice);
  try {
    const info = await pending;
    state = { info, requested: choice };
    return info;
  } finally {
    pending = null;
  }
}

/** What `kws doctor` prints: which backend runs, and why the faster ones do not. */
export function backendReport(): BackendReport {
  let tfjsVersion: string | null = null;
  try {
    const req = createRequire(__filename);
    tfjsVersion = (req('@tensorflow/tfjs/package.json') as { version: string }).version;
  } catch {
    tfjsVersion = null;
  }
  const report: BackendReport = {
    active: state ? state.info.name : null,
    requested: state ? state.requested : null,
    attempts: attempts.slice(),
    customKernels: customKernels.slice(),
    tfjsVersion,
  };
  if (tfjsNodeFailure !== undefined) report.tfjsNodeUnavailable = tfjsNodeFailure;
  if (wasmDetails) report.wasm = wasmDetails;
  return report;
}

/** Check, without loading it, whether @tensorflow/tfjs-node could be required (for doctor). */
export function tfjsNodeResolvable(): { ok: boolean; reason?: string } {
  try {
    createRequire(__filename).resolve(TFJS_NODE);
    return { ok: true };
  } catch {
    return { ok: false, reason: 'the optional package @tensorflow/tfjs-node is not installed' };
  }
}
