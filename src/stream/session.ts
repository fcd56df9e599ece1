/**
 * A client's session on the server: who it is, which datagrams it has sent (lost,
 * duplicated, reordered), and its audio track. Networking and inference live in
 * server.ts; this file is pure state, so it is tested without sockets.
 */
import { ReplayWindow } from './auth';
import type { AudioTrack } from './track';
import type { PosteriorSmoother } from './smoothing';

/** Out-of-order datagrams held while waiting for a missing one (4 x 64 ms chunks). */
export const REORDER_MAX = 4;

export interface SessionCounters {
  received: number;
  lost: number;
  duplicate: number;
  late: number;
  windows: number;
}

/**
 * Puts datagrams back in sequence order. Items arrive with their sequence number; ready
 * items come out in order. A gap is waited for while at most REORDER_MAX later items are
 * held; after that the missing ones are counted lost and skipped.
 */
export class Reorderer<T> {
  private expect: number | null = null;
  private readonly pending = new Map<number, T>();
  lost = 0;
  late = 0;

  /** When the oldest item still held behind a gap arrived (ms), or null when none is held. */
  private heldSince: number | null = null;

  /** Add an item (its seq already checked to be new) that arrived at `now` ms; returns the items now in order. */
  push(seq: number, item: T, now = 0): T[] {
    if (this.expect === null) this.expect = seq;
    if (seq < this.expect) {
      this.late++;
      return [];
    }
    this.pending.set(seq, item);
    const out: T[] = [];
    this.drain(out);
    if (this.pending.size > REORDER_MAX) this.skipGap(out);
    if (this.pending.size === 0) this.heldSince = null;
    else if (out.length > 0 || this.heldSince === null) this.heldSince = now;
    return out;
  }

  /** Everything still held, in order, counting the gaps as lost (end of stream). */
  flush(): T[] {
    const out: T[] = [];
    while (this.pending.size > 0) this.skipGap(out);
    this.heldSince = null;
    return out;
  }

  /**
   * A gap waited for longer than `maxHoldMs` is given up: the held items come out (the gap
   * counted lost). Without this, a client that pauses (a silence gate) right after a lost
   * datagram would leave its last audio unclassified until it spoke again.
   */
  flushIfOlder(now: number, maxHoldMs: number): T[] {
    if (this.heldSince === null || now - this.heldSince < maxHoldMs) return [];
    return this.flush();
  }

  get held(): number {
    return this.pending.size;
  }

  private drain(out: T[]): void {
    for (;;) {
      const e = this.expect as number;
      const item = this.pending.get(e);
      if (item === undefined) return;
      this.pending.delete(e);
      out.push(item);
      this.expect = e + 1;
    }
  }

  private skipGap(out: T[]): void {
    let min = Infinity;
    for (const k of this.pending.keys()) if (k < min) min = k;
    this.lost += min - (this.expect as number);
    this.expect = min;
    this.drain(out);
  }
}

/** Something a session's datagram asks the server to do, after reordering. */
export type SessionItem = { kind: 'audio'; seq: number; offset: number; samples: Float32Array; bytes: number; arrival: number } | { kind: 'control'; seq: number };

export class Session {
  readonly replay = new ReplayWindow();
  readonly order = new Reorderer<SessionItem>();
  track: AudioTrack | null = null;
  /** Made with the first result (its settings are the server's). */
  smoother: PosteriorSmoother | null = null;
  /** Declared by HELLO or the first audio datagram; a session keeps its format. */
  format = 0;
  rate = 0;
  received = 0;
  duplicate = 0;
  replySeq = 0;
  ended = false;
  /** Windows queued for inference and not yet answered (the END reply waits for them). */
  inFlight = 0;
  endPending = false;
  lastSeen: number;

  constructor(
    readonly key: string,
    readonly source: string,
    public address: string,
    public port: number,
    readonly sessionId: number,
    readonly legacy: boolean,
    now: number,
  ) {
    this.lastSeen = now;
  }

  counters(): SessionCounters {
    return {
      received: this.received,
      lost: this.order.lost,
      duplicate: this.duplicate,
      late: this.order.late,
      windows: this.track?.windows ?? 0,
    };
  }
}
