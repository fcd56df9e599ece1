/**
 * An InferenceEngine whose model runs on a worker thread, so inference (the largest cost
 * per stream) uses the second core while the main thread keeps reading datagrams and
 * computing features. Batches are handed over as one transferred Float32Array each way
 * (no copies of the windows beyond packing them). The server's batching loop awaits
 * classify(), so the next batch gathers on the main thread while this one runs.
 */
import { Worker } from 'node:worker_threads';
import * as path from 'node:path';
import type { InferenceEngine, SessionFeatures } from './engine';
import type { WorkerInit, WorkerReply, WorkerRequest } from './inference-worker';
import { ModelSessionFeatures } from './session-features';
import type { FeatureSpec } from '../features/spec';
import { featureSize } from '../features/spec';
import { UserError, ExitCode, type ExitCodeValue } from '../util/errors';

export class WorkerEngine implements InferenceEngine {
  readonly name: string;
  readonly labels: readonly string[];
  readonly sampleRate: number;
  readonly windowSamples: number;
  readonly frameHop: number;
  readonly backend: string;
  readonly type: string;
  private readonly spec: FeatureSpec;
  private readonly size: number;
  private nextId = 1;
  /** Set once the thread died: every later classify() fails at once instead of waiting forever. */
  private dead: Error | null = null;
  private disposed = false;
  /**
   * Called once if the inference thread dies (an uncaught error, out of memory). The server
   * cannot answer anything after that, so `kws serve` stops with an error instead of running
   * on deaf.
   */
  onFatal: (err: Error) => void = () => undefined;
  private readonly pending = new Map<number, { resolve: (p: Float32Array[]) => void; reject: (e: Error) => void; n: number }>();

  private constructor(
    private readonly worker: Worker,
    ready: Extract<WorkerReply, { kind: 'ready' }>,
  ) {
    this.spec = ready.spec as FeatureSpec;
    this.name = ready.name;
    this.labels = ready.labels;
    this.backend = `${ready.backend} (inference thread)`;
    this.type = ready.type;
    this.sampleRate = this.spec.sampleRate;
    this.windowSamples = this.spec.windowSamples;
    this.frameHop = this.spec.spectral?.hop ?? 1;
    this.size = featureSize(this.spec);
    worker.on('message', (m: WorkerReply) => this.onReply(m));
    worker.on('error', (err) => this.die(err));
    worker.on('exit', (code) => this.die(new Error(`inference thread exited (code ${code})`)));
  }

  static async start(ref: string, backend: string): Promise<WorkerEngine> {
    const init: WorkerInit = { ref, backend };
    const worker = new Worker(path.join(__dirname, 'inference-worker.js'), { workerData: init });
    let onMessage: (m: WorkerReply) => void = () => undefined;
    let onError: (err: Error) => void = () => undefined;
    let onExit: (code: number) => void = () => undefined;
    const ready = await new Promise<Extract<WorkerReply, { kind: 'ready' }>>((resolve, reject) => {
      onMessage = (m) => {
        if (m.kind === 'ready') resolve(m);
        else if (m.kind === 'fatal') reject(new UserError(m.message, { exitCode: (m.exitCode ?? ExitCode.input) as ExitCodeValue }));
      };
      onError = reject;
      onExit = (code) => reject(new Error(`inference thread exited (${code}) while loading the model`));
      worker.on('message', onMessage);
      worker.once('error', onError);
      worker.once('exit', onExit);
    }).catch(async (err: unknown) => {
      await worker.terminate();
      throw err;
    });
    // Only our own listeners: Worker keeps internal ones (they start and ref its message port).
    worker.off('message', onMessage);
    worker.off('error', onError);
    worker.off('exit', onExit);
    return new WorkerEngine(worker, ready);
  }

  createSession(): SessionFeatures {
    return new ModelSessionFeatures(this.spec);
  }

  classify(windows: Float32Array[]): Promise<Float32Array[]> {
    if (this.dead) return Promise.reject(this.dead);
    const n = windows.length;
    const data = new Float32Array(n * this.size);
    windows.forEach((w, i) => data.set(w, i * this.size));
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject, n });
      const req: WorkerRequest = { id, n, data };
      this.worker.postMessage(req, [data.buffer]);
    });
  }

  dispose(): void {
    this.disposed = true;
    void this.worker.terminate();
  }

  private onReply(m: WorkerReply): void {
    if (m.kind !== 'result' && m.kind !== 'error') return;
    const p = this.pending.get(m.id);
    if (!p) return;
    this.pending.delete(m.id);
    if (m.kind === 'error') {
      p.reject(new Error(m.message));
      return;
    }
    const k = this.labels.length;
    const out: Float32Array[] = [];
    for (let i = 0; i < p.n; i++) out.push(m.probs.subarray(i * k, (i + 1) * k));
    p.resolve(out);
  }

  private die(err: Error): void {
    if (this.dead) return;
    this.dead = err;
    for (const p of this.pending.values()) p.reject(err);
    this.pending.clear();
    if (!this.disposed) this.onFatal(err);
  }

  /** Tests only: kill the thread as a crash would. */
  crashForTest(): Promise<number> {
    return this.worker.terminate();
  }
}
