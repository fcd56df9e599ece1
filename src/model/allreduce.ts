/**
 * A sum across the threads that train one model together (src/model/replicas.ts), in shared
 * memory: each thread writes its vector into its own slot, waits at a barrier until every thread
 * has, then adds all slots in slot order. Every thread gets bit-identical totals, which is what
 * keeps their batch-norm statistics, and so their models, the same.
 *
 * Slots are double-buffered by call parity: a thread that is already writing call k+1 uses the
 * other half, so it never overwrites a slot another thread is still reading for call k; and it
 * cannot reach call k+2 before every thread has passed the barrier of call k+1.
 *
 * The wait is Atomics.wait, which blocks the thread: kernels are synchronous, so a kernel that needs
 * the batch's statistics can only get them this way. A thread that fails sets the abort word, which
 * wakes and stops every waiter; a thread that hangs is given up after `timeoutMs`.
 *
 * Owner: training.
 */

/** Doubles one slot holds: a reduction of up to (SLOT_DOUBLES - 1) / 2 channels' two sums and a count. */
export const SLOT_DOUBLES = 8192;

const ARRIVED = 0;
const GENERATION = 1;
const ABORT = 2;
const PARTIES = 3;

export interface AllReduceBuffers {
  /** [arrived, generation, abort, parties] */
  control: SharedArrayBuffer;
  /** 2 parities x maxParties slots x SLOT_DOUBLES */
  slots: SharedArrayBuffer;
  maxParties: number;
}

export class ReplicaAbort extends Error {}

export function createAllReduceBuffers(maxParties: number): AllReduceBuffers {
  return {
    control: new SharedArrayBuffer(4 * Int32Array.BYTES_PER_ELEMENT),
    slots: new SharedArrayBuffer(2 * maxParties * SLOT_DOUBLES * Float64Array.BYTES_PER_ELEMENT),
    maxParties,
  };
}

export class AllReduce {
  private readonly control: Int32Array;
  private readonly slots: Float64Array;
  private calls = 0;

  constructor(
    buffers: AllReduceBuffers,
    /** This thread's slot: its share's index in the batch. */
    private readonly index: number,
    private readonly timeoutMs = 120_000,
  ) {
    this.control = new Int32Array(buffers.control);
    this.slots = new Float64Array(buffers.slots);
    this.maxParties = buffers.maxParties;
  }

  private readonly maxParties: number;

  /** Set by the main thread before a step: how many threads take part. Resets the call count. */
  static begin(buffers: AllReduceBuffers, parties: number): void {
    const control = new Int32Array(buffers.control);
    Atomics.store(control, ARRIVED, 0);
    Atomics.store(control, ABORT, 0);
    Atomics.store(control, PARTIES, parties);
  }

  /** Wake every waiting thread and make them throw ReplicaAbort. */
  static abort(buffers: AllReduceBuffers): void {
    const control = new Int32Array(buffers.control);
    Atomics.store(control, ABORT, 1);
    Atomics.add(control, GENERATION, 1);
    Atomics.notify(control, GENERATION);
  }

  /** Start of a step on this thread: calls are counted per step, the same on every thread. */
  reset(): void {
    this.calls = 0;
  }

  /** Replace `values` by its element-wise sum over every taking-part thread. */
  sum(values: Float64Array): void {
    const parties = Atomics.load(this.control, PARTIES);
    if (values.length > SLOT_DOUBLES) throw new RangeError(`cannot sum ${values.length} values across threads (at most ${SLOT_DOUBLES})`);
    if (this.index >= parties) throw new RangeError(`thread ${this.index} is not one of the ${parties} taking part`);
    const parity = this.calls++ & 1;
    const base = parity * this.maxParties * SLOT_DOUBLES;
    this.slots.set(values, base + this.index * SLOT_DOUBLES);
    this.barrier(parties);
    values.fill(0);
    for (let p = 0; p < parties; p++) {
      const off = base + p * SLOT_DOUBLES;
      for (let i = 0; i < values.length; i++) values[i] = (values[i] as number) + (this.slots[off + i] as number);
    }
  }

  private barrier(parties: number): void {
    const generation = Atomics.load(this.control, GENERATION);
    if (Atomics.load(this.control, ABORT) !== 0) throw new ReplicaAbort('another training thread failed');
    if (Atomics.add(this.control, ARRIVED, 1) === parties - 1) {
      Atomics.store(this.control, ARRIVED, 0);
      Atomics.add(this.control, GENERATION, 1);
      Atomics.notify(this.control, GENERATION);
      return;
    }
    const deadline = Date.now() + this.timeoutMs;
    while (Atomics.load(this.control, GENERATION) === generation) {
      const left = deadline - Date.now();
      if (left <= 0) throw new ReplicaAbort(`a training thread did not respond within ${Math.round(this.timeoutMs / 1000)} s`);
      Atomics.wait(this.control, GENERATION, generation, Math.min(left, 1000));
    }
    if (Atomics.load(this.control, ABORT) !== 0) throw new ReplicaAbort('another training thread failed');
  }
}
