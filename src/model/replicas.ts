/**
 * Data-parallel training on worker threads: the WASM backend of TensorFlow.js runs on one thread
 * (its threaded build is disabled in Node), so kws trains on N threads by giving each a copy of the
 * model and a share of every mini-batch.
 *
 * One step: the main thread sends shares 2..N to the workers, computes share 1 itself, adds the
 * gradients in share order, applies the optimiser to its own model, and sends the new trainable
 * weights with the next step's shares. Batch-norm layers sum their batch statistics across the
 * threads through shared memory (allreduce.ts), so every thread normalises with the whole batch's
 * statistics and the step is the single-thread step up to the order of floating-point additions
 * (and the draws of dropout and in-network SpecAugment, which each thread makes for its own rows).
 *
 * The main thread's model stays the one that is validated and saved; the workers' copies only
 * compute gradients.
 *
 * Owner: training.
 */
import { Worker } from 'node:worker_threads';
import * as path from 'node:path';
import type { LayersModel, Tensor } from '@tensorflow/tfjs';
import type { TF } from './backend';
import { AllReduce, ReplicaAbort, createAllReduceBuffers, type AllReduceBuffers } from './allreduce';
import { setStatisticsReducer } from './kernels/batchnorm';
import { shareGradients } from './gradients';

export interface ReplicaInit {
  backend: string;
  index: number;
  buffers: AllReduceBuffers;
}

export type ReplicaRequest =
  | { kind: 'model'; topology: object; weights: Array<{ shape: number[]; values: Float32Array }> }
  | {
      kind: 'step';
      x: Float32Array;
      shape: number[];
      labels: Int32Array;
      numClasses: number;
      batchRows: number;
      labelSmoothing: number;
      /** New values of the trainable weights, when they changed since the last step. */
      trainable: Float32Array[] | null;
    }
  | {
      kind: 'predict';
      x: Float32Array;
      shape: number[];
      /** Every weight (batch-norm statistics included: recalibration may have changed them). */
      weights: Float32Array[];
    };

export type ReplicaReply =
  | { kind: 'ready' }
  | { kind: 'model-ready' }
  | { kind: 'grads'; grads: Float32Array[]; lossSum: number; correct: number }
  | { kind: 'probs'; probs: Float32Array }
  | { kind: 'error'; message: string };

export interface StepResult {
  /** Summed gradients, in model.trainableWeights order (owned by the caller). */
  grads: Tensor[];
  lossSum: number;
  correct: number;
}

/** How many threads to train on: KWS_THREADS, else the machine's cores, at most 8. */
export function defaultTrainingThreads(available: number): number {
  const raw = process.env['KWS_THREADS'];
  if (raw !== undefined && raw !== '') {
    const n = Number(raw);
    if (Number.isInteger(n) && n >= 1 && n <= 64) return n;
  }
  return Math.max(1, Math.min(8, available));
}

class ReplicaThread {
  private waiting: { resolve: (r: ReplicaReply) => void; reject: (e: Error) => void } | null = null;
  private dead: Error | null = null;

  constructor(readonly worker: Worker) {
    worker.on('message', (m: ReplicaReply) => {
      const w = this.waiting;
      this.waiting = null;
      w?.resolve(m);
    });
    const fail = (err: Error): void => {
      this.dead = err;
      const w = this.waiting;
      this.waiting = null;
      w?.reject(err);
    };
    worker.on('error', fail);
    worker.on('exit', (code) => fail(new Error(`a training thread exited (code ${code})`)));
  }

  /** Why the thread is gone, if it is. */
  get failure(): Error | null {
    return this.dead;
  }

  /** The next reply (one request is outstanding at a time). */
  next(): Promise<ReplicaReply> {
    if (this.dead) return Promise.reject(this.dead);
    return new Promise((resolve, reject) => {
      this.waiting = { resolve, reject };
    });
  }

  send(req: ReplicaRequest, transfer: ArrayBuffer[] = []): void {
    this.worker.postMessage(req, transfer);
  }
}

function expect<K extends ReplicaReply['kind']>(r: ReplicaReply, kind: K): Extract<ReplicaReply, { kind: K }> {
  if (r.kind === 'error') throw new Error(`training thread: ${r.message}`);
  if (r.kind !== kind) throw new Error(`training thread: expected ${kind}, got ${r.kind}`);
  return r as Extract<ReplicaReply, { kind: K }>;
}

export class Replicas {
  private model: LayersModel | null = null;
  private weightsChanged = false;
  /** Weights for workers that sat out a short step (fewer rows than threads), sent with their next one. */
  private readonly pendingWeights = new Map<number, Float32Array[]>();

  private constructor(
    private readonly tf: TF,
    private readonly threads: ReplicaThread[],
    private readonly buffers: AllReduceBuffers,
    private readonly mine: AllReduce,
  ) {}

  /** Threads in all, the main one included. */
  get size(): number {
    return this.threads.length + 1;
  }

  /** Start `count - 1` worker threads on `backend` (count >= 2). */
  static async start(tf: TF, count: number, backend: string): Promise<Replicas> {
    if (!Number.isInteger(count) || count < 2) throw new RangeError(`Replicas needs at least 2 threads, got ${count}`);
    const buffers = createAllReduceBuffers(count);
    const threads: ReplicaThread[] = [];
    try {
      for (let i = 1; i < count; i++) {
        const init: ReplicaInit = { backend, index: i, buffers };
        threads.push(new ReplicaThread(new Worker(path.join(__dirname, 'replica-worker.js'), { workerData: init })));
      }
      await Promise.all(threads.map(async (t) => expect(await t.next(), 'ready')));
    } catch (err) {
      await Promise.all(threads.map((t) => t.worker.terminate()));
      throw err;
    }
    return new Replicas(tf, threads, buffers, new AllReduce(buffers, 0));
  }

  /** Give every worker a copy of `model` (its topology and current weights). */
  async setModel(model: LayersModel): Promise<void> {
    this.model = model;
    const topology = model.toJSON(null, false) as object;
    const weights = model.getWeights().map((w) => ({ shape: w.shape.slice(), values: w.dataSync().slice() as Float32Array }));
    for (const t of this.threads) t.send({ kind: 'model', topology, weights });
    await Promise.all(this.threads.map(async (t) => expect(await t.next(), 'model-ready')));
    this.weightsChanged = false;
  }

  /** The main thread's model's trainable weights changed (the optimiser stepped): send them with the next step. */
  markWeightsChanged(): void {
    this.weightsChanged = true;
  }

  /**
   * One step's gradients over `rows` examples (x: rows * prod(inputShape) floats), shared between
   * the threads in contiguous runs of rows.
   */
  async step(x: Float32Array, inputShape: number[], labels: Int32Array, numClasses: number, labelSmoothing: number): Promise<StepResult> {
    const model = this.model;
    if (!model) throw new Error('Replicas.step before setModel');
    // A thread that is already gone would leave this one waiting at the first batch-norm barrier.
    for (const t of this.threads) if (t.failure) throw t.failure;
    const tf = this.tf;
    const rows = labels.length;
    const rowSize = inputShape.reduce((a, b) => a * b, 1);
    const parties = Math.min(this.size, rows);
    const bounds = Array.from({ length: parties + 1 }, (_, p) => Math.round((p * rows) / parties));
    const trainable = this.weightsChanged ? model.trainableWeights.map((w) => w.read().dataSync() as Float32Array) : null;
    this.weightsChanged = false;
    AllReduce.begin(this.buffers, parties);
    // Workers outside this step's parties still need the new weights for the next one.
    for (let p = 1; p < this.size; p++) {
      const t = this.threads[p - 1] as ReplicaThread;
      if (p >= parties) {
        if (trainable) this.pendingWeights.set(p, trainable);
        continue;
      }
      const lo = bounds[p] as number;
      const hi = bounds[p + 1] as number;
      const share = x.slice(lo * rowSize, hi * rowSize);
      const weights = trainable ?? this.pendingWeights.get(p) ?? null;
      this.pendingWeights.delete(p);
      t.send({ kind: 'step', x: share, shape: [hi - lo, ...inputShape], labels: labels.slice(lo, hi), numClasses, batchRows: rows, labelSmoothing, trainable: weights }, [share.buffer]);
    }
    const replies = this.threads.slice(0, parties - 1).map((t) => t.next());
    let own: ReturnType<typeof shareGradients>;
    const hi0 = bounds[1] as number;
    setStatisticsReducer((v) => this.mine.sum(v));
    this.mine.reset();
    try {
      const xt = tf.tensor(x.subarray(0, hi0 * rowSize), [hi0, ...inputShape]);
      try {
        own = shareGradients(tf, model, xt, labels.subarray(0, hi0), numClasses, rows, labelSmoothing);
      } finally {
        xt.dispose();
      }
    } catch (err) {
      // Release workers blocked in a batch-norm barrier; a worker's own error explains more than
      // the abort it caused here.
      AllReduce.abort(this.buffers);
      for (const r of await Promise.allSettled(replies)) {
        if (err instanceof ReplicaAbort && r.status === 'fulfilled' && r.value.kind === 'error') throw new Error(`training thread: ${r.value.message}`);
      }
      throw err;
    } finally {
      setStatisticsReducer(null);
    }
    let lossSum = own.lossSum;
    let correct = own.correct;
    const sums = own.grads.map((g) => g.dataSync().slice() as Float32Array);
    tf.dispose(own.grads);
    let failure: unknown = null;
    for (const reply of await Promise.allSettled(replies)) {
      if (reply.status === 'rejected') {
        failure ??= reply.reason;
        continue;
      }
      try {
        const r = expect(reply.value, 'grads');
        lossSum += r.lossSum;
        correct += r.correct;
        r.grads.forEach((g, i) => {
          const s = sums[i] as Float32Array;
          for (let j = 0; j < s.length; j++) s[j] = (s[j] as number) + (g[j] as number);
        });
      } catch (err) {
        failure ??= err;
      }
    }
    if (failure !== null) throw failure instanceof Error ? failure : new Error(String(failure));
    const grads = model.trainableWeights.map((w, i) => tf.tensor(sums[i] as Float32Array, w.read().shape));
    return { grads, lossSum, correct };
  }

  /**
   * Softmax outputs of the main thread's model for `rows` examples (inference mode), the rows
   * shared between the threads like a training step's. Each worker first takes all of the main
   * model's weights, so the answer is the main model's.
   */
  async predict(x: Float32Array, rows: number, inputShape: number[]): Promise<Float32Array> {
    const model = this.model;
    if (!model) throw new Error('Replicas.predict before setModel');
    for (const t of this.threads) if (t.failure) throw t.failure;
    const tf = this.tf;
    const rowSize = inputShape.reduce((a, b) => a * b, 1);
    const parties = Math.max(1, Math.min(this.size, rows));
    const bounds = Array.from({ length: parties + 1 }, (_, p) => Math.round((p * rows) / parties));
    const weights = model.getWeights().map((w) => w.dataSync() as Float32Array);
    for (let p = 1; p < parties; p++) {
      const lo = bounds[p] as number;
      const hi = bounds[p + 1] as number;
      const share = x.slice(lo * rowSize, hi * rowSize);
      (this.threads[p - 1] as ReplicaThread).send({ kind: 'predict', x: share, shape: [hi - lo, ...inputShape], weights }, [share.buffer]);
    }
    const replies = this.threads.slice(0, parties - 1).map((t) => t.next());
    // The workers' weights now match the main model's; trainable ones need not be sent again.
    this.weightsChanged = false;
    this.pendingWeights.clear();
    const own = predictRows(tf, model, x.subarray(0, (bounds[1] as number) * rowSize), bounds[1] as number, inputShape);
    const parts = [own];
    let failure: unknown = null;
    for (const reply of await Promise.allSettled(replies)) {
      if (reply.status === 'rejected') failure ??= reply.reason;
      else {
        try {
          parts.push(expect(reply.value, 'probs').probs);
        } catch (err) {
          failure ??= err;
        }
      }
    }
    if (failure !== null) throw failure instanceof Error ? failure : new Error(String(failure));
    return concat(parts);
  }

  async close(): Promise<void> {
    await Promise.all(this.threads.map((t) => t.worker.terminate()));
  }
}

/** Softmax outputs of `model` for `count` examples, in batches of 128 (bounded memory). */
export function predictRows(tf: TF, model: LayersModel, x: Float32Array, count: number, inputShape: number[], batch = 128): Float32Array {
  const rowSize = inputShape.reduce((a, b) => a * b, 1);
  const parts: Float32Array[] = [];
  for (let s = 0; s < count; s += batch) {
    const n = Math.min(batch, count - s);
    parts.push(
      tf.tidy(() => {
        const xt = tf.tensor(x.subarray(s * rowSize, (s + n) * rowSize), [n, ...inputShape]);
        return (model.predict(xt) as Tensor).dataSync().slice() as Float32Array;
      }),
    );
  }
  return concat(parts);
}

function concat(parts: readonly Float32Array[]): Float32Array {
  const out = new Float32Array(parts.reduce((a, p) => a + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

/** A worker's reply to a step, for replica-worker.ts. */
export function gradsReply(tf: TF, result: ReturnType<typeof shareGradients>): { reply: ReplicaReply; transfer: ArrayBuffer[] } {
  const grads = result.grads.map((g) => g.dataSync().slice() as Float32Array);
  tf.dispose(result.grads);
  return { reply: { kind: 'grads', grads, lossSum: result.lossSum, correct: result.correct }, transfer: grads.map((g) => g.buffer as ArrayBuffer) };
}
