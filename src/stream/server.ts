/**
 * The UDP recognition server behind `kws serve`.
 *
 * Every datagram is untrusted. In order, each one passes: a size bound, the per-source
 * rate limit, decoding (kws header) or the raw-PCM rules (original client), the token
 * check (when a token is set, anything unauthenticated is ignored without a reply), the
 * replay/duplicate window, the session cap, and reordering; only then does its audio
 * reach the session's track. Nothing a datagram says can throw past handle(): a bug
 * triggered by one datagram is counted and logged, never fatal, and touches only the
 * session it belongs to.
 *
 * Inference is batched: windows that fall due while a batch runs wait in one queue, and
 * the next batch takes all of them (up to maxBatch) in one engine.classify() call. Under
 * overload the oldest waiting windows are shed (counted), so latency stays bounded
 * instead of growing without limit.
 *
 * Plain node:dgram rather than dgram-as-promised here: the server is event-driven (one
 * 'message' callback, no per-datagram promise or async-iterator step at thousands of
 * datagrams per second), and it needs setRecvBufferSize before bind; the client
 * (client.ts) is request/response shaped and uses dgram-as-promised.
 */
import * as dgram from 'node:dgram';
import { readFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { createAuthenticator, type Authenticator } from './auth';
import { argmax, type InferenceEngine } from './engine';
import { PosteriorSmoother } from './smoothing';
import {
  decode,
  encode,
  hasMagic,
  legacyReply,
  MAX_DATAGRAM_BYTES,
  MAX_RATE,
  MAX_RAW_BYTES,
  MIN_HELLO_BYTES,
  MIN_RATE,
  MsgType,
  payloadToFloat,
  roundProb,
  SampleFormat,
  type Decoded,
  type EndInfo,
  type ErrorInfo,
  type ResultInfo,
  type WelcomeInfo,
} from './protocol';
import { RateLimiter, type RateLimits } from './ratelimit';
import { Session, type SessionItem } from './session';
import { quantile, Recent } from './stats';
import { AudioTrack, type DueWindow } from './track';

export interface ServerOptions {
  engine: InferenceEngine;
  host: string;
  port: number;
  /** Samples (at the engine rate) between classified windows of one session. */
  hopSamples: number;
  token?: string;
  maxSessions: number;
  maxSessionsPerSource: number;
  idleMs: number;
  rate: RateLimits;
  maxBatch: number;
  /** A batch smaller than this waits up to gatherMs for more windows (see gatherDelay). */
  minBatch: number;
  gatherMs: number;
  /** Windows waiting beyond this are shed, oldest first. */
  maxQueue: number;
  /** A window that waited longer than this for inference is shed: its result would come too late to be live. */
  maxWaitMs: number;
  /** Each result reports the mean of this many newest windows of its session (1 = off; smoothing.ts). */
  smoothWindows: number;
  /** Where notable events go (one line each); stats lines too. */
  log: (line: string) => void;
}

/** How long datagrams wait behind a sequence gap for the missing one (reordering on real networks is a few ms). */
const REORDER_HOLD_MS = 100;

/** How long an ended session is kept to answer a retransmitted BYE. */
const ENDED_LINGER_MS = 5000;

export const SERVER_DEFAULTS = {
  maxSessions: 1024,
  maxSessionsPerSource: 64,
  idleMs: 30_000,
  // 64 real-time 16 kHz int16 streams of 1024-sample chunks per source address, with headroom.
  rate: { datagramsPerSec: 2000, bytesPerSec: 4 * 1024 * 1024 },
  maxBatch: 64,
  minBatch: 16,
  gatherMs: 10,
  maxQueue: 2048,
  maxWaitMs: 1000,
  smoothWindows: 4,
} as const;

/** Why datagrams were dropped; every drop is counted under exactly one reason. */
export type DropReason =
  | 'oversized'
  | 'rate'
  | 'malformed'
  | 'auth'
  | 'replay'
  | 'full'
  | 'ended'
  | 'shed'
  | 'error';

export interface ServerStats {
  sessions: number;
  datagrams: number;
  bytes: number;
  dropped: Record<DropReason, number>;
  /** Datagrams the kernel dropped on our socket (receive buffer full), from /proc/net/udp. */
  kernelDrops: number | null;
  windows: number;
  batches: number;
  repliesSuppressed: number;
  lost: number;
  duplicate: number;
  late: number;
}

interface QueuedWindow {
  session: Session;
  window: DueWindow;
  seq: number;
  /** performance.now() when the datagram that completed the window arrived. */
  arrival: number;
  /** Size of that datagram: no reply may be larger. */
  triggerBytes: number;
}

type QueueEntry = QueuedWindow | { session: Session; endMarker: true; triggerBytes: number };

export class KwsServer {
  private socket: dgram.Socket | null = null;
  private readonly sessions = new Map<string, Session>();
  private readonly perSource = new Map<string, number>();
  /** Highest authenticated seq of expired sessions, so their datagrams cannot be replayed later. */
  private readonly tombstones = new Map<number, number>();
  private readonly limiter: RateLimiter;
  private readonly auth: Authenticator | null;
  private readonly queue: QueueEntry[] = [];
  private running = false;
  private scheduled = false;
  private gatherTimer: NodeJS.Timeout | null = null;
  private sweepTimer: NodeJS.Timeout | null = null;
  private gapTimer: NodeJS.Timeout | null = null;
  /** Sessions holding datagrams behind a sequence gap. */
  private readonly holding = new Set<Session>();
  private stopped = false;
  private readonly inference = new Recent(4096);
  private readonly latency = new Recent(4096);
  private readonly counters: Omit<ServerStats, 'sessions' | 'kernelDrops' | 'lost' | 'duplicate' | 'late'> = {
    datagrams: 0,
    bytes: 0,
    dropped: { oversized: 0, rate: 0, malformed: 0, auth: 0, replay: 0, full: 0, ended: 0, shed: 0, error: 0 },
    windows: 0,
    batches: 0,
    repliesSuppressed: 0,
  };
  /** Loss figures of sessions already expired, so totals do not shrink. */
  private retired = { lost: 0, duplicate: 0, late: 0 };
  private loggedErrors = 0;

  constructor(readonly opts: ServerOptions) {
    this.limiter = new RateLimiter(opts.rate);
    this.auth = opts.token ? createAuthenticator(opts.token) : null;
  }

  get address(): AddressInfo {
    if (!this.socket) throw new Error('server not started');
    return this.socket.address();
  }

  async start(): Promise<AddressInfo> {
    const type = this.opts.host.includes(':') ? 'udp6' : 'udp4';
    const socket = dgram.createSocket({ type, recvBufferSize: 8 * 1024 * 1024 });
    this.socket = socket;
    await new Promise<void>((resolve, reject) => {
      const onError = (err: Error): void => reject(err);
      socket.once('error', onError);
      socket.bind(this.opts.port, this.opts.host, () => {
        socket.off('error', onError);
        resolve();
      });
    });
    socket.on('error', (err) => this.logError('socket', err));
    socket.on('message', (msg, rinfo) => this.handle(msg, rinfo.address, rinfo.port));
    this.sweepTimer = setInterval(() => this.sweep(performance.now()), 1000);
    this.sweepTimer.unref();
    this.gapTimer = setInterval(() => this.flushStaleGaps(performance.now()), REORDER_HOLD_MS / 2);
    this.gapTimer.unref();
    return socket.address();
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    if (this.sweepTimer) clearInterval(this.sweepTimer);
    if (this.gapTimer) clearInterval(this.gapTimer);
    if (this.gatherTimer) clearTimeout(this.gatherTimer);
    const socket = this.socket;
    if (socket) await new Promise<void>((resolve) => socket.close(() => resolve()));
    this.opts.engine.dispose?.();
  }

  stats(): ServerStats {
    let lost = this.retired.lost;
    let duplicate = this.retired.duplicate;
    let late = this.retired.late;
    for (const s of this.sessions.values()) {
      lost += s.order.lost;
      duplicate += s.duplicate;
      late += s.order.late;
    }
    return {
      ...this.counters,
      dropped: { ...this.counters.dropped },
      sessions: this.sessions.size,
      kernelDrops: this.socket ? kernelDrops(this.socket.address().port) : null,
      lost,
      duplicate,
      late,
    };
  }

  /** Inference and latency figures since the last call (ms), then reset. */
  takeTimings(): { inferenceP50: number; inferenceP99: number; latencyP50: number; latencyP99: number; batches: number } {
    const inf = this.inference.values();
    const lat = this.latency.values();
    this.inference.clear();
    this.latency.clear();
    return { inferenceP50: quantile(inf, 0.5), inferenceP99: quantile(inf, 0.99), latencyP50: quantile(lat, 0.5), latencyP99: quantile(lat, 0.99), batches: inf.length };
  }

  // ---- receiving ---------------------------------------------------------------------

  /** Entry point for every datagram; public so tests can drive it without a socket. */
  handle(msg: Buffer, address: string, port: number): void {
    const now = performance.now();
    this.counters.datagrams++;
    this.counters.bytes += msg.length;
    try {
      if (msg.length === 0 || msg.length > MAX_DATAGRAM_BYTES) return this.drop('oversized');
      if (!this.limiter.allow(address, msg.length, now)) return this.drop('rate');
      if (hasMagic(msg)) this.handleKws(msg, address, port, now);
      else this.handleRaw(msg, address, port, now);
    } catch (err) {
      // A bug reached by one datagram: count it, keep serving everyone else.
      this.drop('error');
      this.logError('datagram', err);
    }
  }

  private drop(reason: DropReason): void {
    this.counters.dropped[reason]++;
  }

  private handleRaw(msg: Buffer, address: string, port: number, now: number): void {
    // The original client cannot authenticate: with a token, raw audio is ignored silently.
    if (this.auth) return this.drop('auth');
    if (msg.length > MAX_RAW_BYTES || msg.length % 2 !== 0) return this.drop('malformed');
    const key = `raw|${address}|${port}`;
    let s = this.sessions.get(key);
    if (s === undefined) {
      const created = this.createSession(key, address, port, 0, true, now);
      if (created === null) return;
      s = created;
      s.format = SampleFormat.s16le;
      s.rate = this.opts.engine.sampleRate;
      s.track = new AudioTrack(this.opts.engine, { clientRate: s.rate, hopSamples: this.opts.hopSamples });
    }
    s.lastSeen = now;
    s.received++;
    const track = s.track as AudioTrack;
    const due: DueWindow[] = [];
    // Raw datagrams carry no offset: they are contiguous by definition (as the original assumed).
    track.append(track.expectedOffset, payloadToFloat(msg, SampleFormat.s16le), due);
    for (const w of due) this.enqueue({ session: s, window: w, seq: s.received, arrival: now, triggerBytes: msg.length });
  }

  private handleKws(msg: Buffer, address: string, port: number, now: number): void {
    const d = decode(msg);
    if (!d.ok) {
      // Even a bad kws datagram gets no reply in token mode; without a token a reply
      // could only help an attacker map the server, and honest clients never send these.
      return this.drop(this.auth ? 'auth' : 'malformed');
    }
    const { header } = d.msg;
    if (header.type >= 0x80) return this.drop('malformed'); // server-to-client types
    if (this.auth && !this.auth.verify(d.msg.signed, d.msg.tag)) return this.drop('auth');
    // With a token, a session is its id (proved by the tag), wherever it comes from;
    // without one, the address is part of the key so nobody can inject into another's session.
    const key = this.auth ? `sid|${header.sessionId}` : `sid|${address}|${port}|${header.sessionId}`;
    let s = this.sessions.get(key);
    if (s === undefined) {
      const created = this.createSession(key, address, port, header.sessionId, false, now);
      if (created === null) {
        if (header.type === MsgType.hello) this.replyError(created, d.msg, msg.length, address, port, 'busy', 'the server is at its session limit; try again later');
        return;
      }
      s = created;
      const tomb = this.auth ? this.tombstones.get(header.sessionId) : undefined;
      if (tomb !== undefined) s.replay.mark(tomb);
    }
    const verdict = s.replay.check(header.seq);
    if (verdict !== 'new') {
      if (verdict === 'duplicate') s.duplicate++;
      else s.order.late++;
      // In token mode a repeat is a replay: ignore silently. Otherwise a duplicate BYE still gets its END.
      if (!this.auth && header.type === MsgType.bye && s.ended) this.sendEnd(s, msg.length);
      return this.drop('replay');
    }
    s.replay.mark(header.seq);
    s.lastSeen = now;
    s.received++;
    // Replies go where the session's latest authenticated (or keyed) datagram came from.
    s.address = address;
    s.port = port;
    switch (header.type) {
      case MsgType.hello:
        return this.onHello(s, d.msg, msg.length);
      case MsgType.ping:
        this.reply(s, MsgType.pong, 0, Buffer.alloc(0), msg.length);
        return this.deliver(s, header.seq, { kind: 'control', seq: header.seq });
      case MsgType.bye:
        this.deliver(s, header.seq, { kind: 'control', seq: header.seq });
        return this.onBye(s, msg.length);
      case MsgType.audio:
        return this.onAudio(s, d.msg, msg.length, now);
      default:
        return this.drop('malformed');
    }
  }

  private createSession(key: string, address: string, port: number, sessionId: number, legacy: boolean, now: number): Session | null {
    if (this.sessions.size >= this.opts.maxSessions) {
      this.drop('full');
      return null;
    }
    const n = this.perSource.get(address) ?? 0;
    if (n >= this.opts.maxSessionsPerSource) {
      this.drop('full');
      return null;
    }
    this.perSource.set(address, n + 1);
    const s = new Session(key, address, address, port, sessionId, legacy, now);
    this.sessions.set(key, s);
    return s;
  }

  private removeSession(s: Session): void {
    if (this.sessions.get(s.key) !== s) return;
    this.sessions.delete(s.key);
    this.holding.delete(s);
    const n = (this.perSource.get(s.source) ?? 1) - 1;
    if (n <= 0) this.perSource.delete(s.source);
    else this.perSource.set(s.source, n);
    this.retired.lost += s.order.lost;
    this.retired.duplicate += s.duplicate;
    this.retired.late += s.order.late;
    if (this.auth && !s.legacy) {
      this.tombstones.delete(s.sessionId);
      this.tombstones.set(s.sessionId, s.replay.highestSeq);
      // Bounded: the oldest tombstones go first (Map keeps insertion order).
      while (this.tombstones.size > 100_000) {
        const oldest = this.tombstones.keys().next().value as number;
        this.tombstones.delete(oldest);
      }
    }
  }

  private onHello(s: Session, m: Decoded, bytes: number): void {
    const { header } = m;
    if (!this.declare(s, header.format, header.sampleRate, m, bytes)) return;
    this.deliver(s, header.seq, { kind: 'control', seq: header.seq });
    // The WELCOME is never larger than the HELLO: a padded HELLO is the client's proof
    // that it is willing to spend the bandwidth it asks us to spend (no amplification).
    if (bytes < MIN_HELLO_BYTES) return;
    const e = this.opts.engine;
    const info: WelcomeInfo = { v: 1, model: e.name, labels: [...e.labels], sampleRate: e.sampleRate, windowSamples: e.windowSamples, hopSamples: this.opts.hopSamples, maxDatagramsPerSec: this.opts.rate.datagramsPerSec };
    let body = Buffer.from(JSON.stringify(info));
    // Labels are only shown to the user; the rate is what keeps `kws stream --fast` from being
    // cut by the rate limit, so a model with many labels loses its labels first.
    if (body.length + 64 > bytes) {
      delete info.labels;
      body = Buffer.from(JSON.stringify(info));
    }
    if (body.length + 64 > bytes) {
      delete info.maxDatagramsPerSec;
      body = Buffer.from(JSON.stringify(info));
    }
    this.reply(s, MsgType.welcome, 0, body, bytes);
  }

  /** Fix the session's format and rate on first use; a later contradiction is an error. */
  private declare(s: Session, format: number, rate: number, m: Decoded, bytes: number): boolean {
    if (format === SampleFormat.none) return true;
    if (rate < MIN_RATE || rate > MAX_RATE) {
      this.replyError(s, m, bytes, s.address, s.port, 'rate', `sample rate ${rate} Hz is outside ${MIN_RATE}..${MAX_RATE}`);
      this.drop('malformed');
      return false;
    }
    if (s.track === null) {
      s.format = format;
      s.rate = rate;
      s.track = new AudioTrack(this.opts.engine, { clientRate: rate, hopSamples: this.opts.hopSamples });
      return true;
    }
    if (s.format !== format || s.rate !== rate) {
      this.replyError(s, m, bytes, s.address, s.port, 'format', 'a session cannot change its sample format or rate; start a new session');
      this.drop('malformed');
      return false;
    }
    return true;
  }

  private onAudio(s: Session, m: Decoded, bytes: number, now: number): void {
    if (s.ended) return this.drop('ended');
    const { header } = m;
    if (!this.declare(s, header.format, header.sampleRate, m, bytes)) return;
    const samples = payloadToFloat(m.payload, header.format);
    this.deliver(s, header.seq, { kind: 'audio', seq: header.seq, offset: header.offset, samples, bytes, arrival: now });
  }

  /** Reorder, then feed audio items to the track in sequence order. */
  private deliver(s: Session, seq: number, item: SessionItem): void {
    this.feed(s, s.order.push(seq, item, performance.now()));
    if (s.order.held > 0) this.holding.add(s);
    else this.holding.delete(s);
  }

  /** Sessions whose reorder buffer waits for a gap to be filled are flushed after REORDER_HOLD_MS. */
  private flushStaleGaps(now: number): void {
    for (const s of this.holding) {
      const items = s.order.flushIfOlder(now, REORDER_HOLD_MS);
      if (items.length > 0) this.feed(s, items);
      if (s.order.held === 0 || !this.sessions.has(s.key)) this.holding.delete(s);
    }
  }

  private feed(s: Session, items: SessionItem[]): void {
    const track = s.track;
    for (const it of items) {
      if (it.kind !== 'audio' || track === null) continue;
      const due: DueWindow[] = [];
      track.append(it.offset, it.samples, due);
      for (const w of due) this.enqueue({ session: s, window: w, seq: it.seq, arrival: it.arrival, triggerBytes: it.bytes });
    }
  }

  private onBye(s: Session, bytes: number): void {
    if (s.ended) {
      if (!s.endPending) this.sendEnd(s, bytes);
      return;
    }
    s.ended = true;
    this.feed(s, s.order.flush());
    if (s.track) {
      const due: DueWindow[] = [];
      s.track.flush(due);
      // The tail window answers the BYE; a BYE is small, so allow a result's size.
      for (const w of due) this.enqueue({ session: s, window: w, seq: s.replay.highestSeq, arrival: performance.now(), triggerBytes: Math.max(bytes, 256) });
    }
    s.endPending = true;
    this.enqueue({ session: s, endMarker: true, triggerBytes: bytes });
  }

  // ---- inference ---------------------------------------------------------------------

  private enqueue(e: QueueEntry): void {
    if (!('endMarker' in e)) {
      e.session.inFlight++;
      if (this.queue.length >= this.opts.maxQueue) {
        // Shed the oldest window, not the newest: live audio values fresh results.
        const idx = this.queue.findIndex((q) => !('endMarker' in q));
        if (idx >= 0) {
          const [old] = this.queue.splice(idx, 1);
          if (old) old.session.inFlight--;
          this.drop('shed');
        }
      }
    }
    this.queue.push(e);
    this.schedule();
  }

  /** When the oldest waiting window arrived (the queue is in arrival order; END markers skipped). */
  private oldestArrival(): number {
    for (const q of this.queue) if (!('endMarker' in q)) return q.arrival;
    return Infinity;
  }

  /**
   * How long to let a small batch gather before running it, in ms (0 = now). One inference
   * call has a fixed cost (measured ~0.6 ms, as much as a window's own), so a loaded server
   * that classified every window as it came would spend half its time on overhead; waiting
   * up to `gatherMs` for `minBatch` windows halves that at the price of a few ms of latency.
   */
  private gatherDelay(now: number): number {
    const head = this.queue[0];
    if (head === undefined || 'endMarker' in head) return 0;
    if (this.queue.length >= this.opts.minBatch) return 0;
    return Math.max(0, this.opts.gatherMs - (now - this.oldestArrival()));
  }

  private schedule(): void {
    if (this.running || this.stopped) return;
    const delay = this.gatherDelay(performance.now());
    if (delay > 0) {
      this.gatherTimer ??= setTimeout(() => {
        this.gatherTimer = null;
        this.schedule();
      }, delay);
      return;
    }
    if (this.gatherTimer) {
      clearTimeout(this.gatherTimer);
      this.gatherTimer = null;
    }
    if (this.scheduled) return;
    this.scheduled = true;
    // setImmediate lets every datagram already waiting in this I/O phase join the batch.
    setImmediate(() => {
      this.scheduled = false;
      void this.runBatches();
    });
  }

  private async runBatches(): Promise<void> {
    if (this.running) return;
    this.running = true;
    try {
      while (this.queue.length > 0 && !this.stopped) {
        if (this.gatherDelay(performance.now()) > 0) break;
        // END markers at the head are answered as soon as their windows are done.
        const head = this.queue[0] as QueueEntry;
        if ('endMarker' in head) {
          this.queue.shift();
          head.session.endPending = false;
          this.sendEnd(head.session, head.triggerBytes);
          continue;
        }
        const batch: QueuedWindow[] = [];
        const stale = performance.now() - this.opts.maxWaitMs;
        while (batch.length < this.opts.maxBatch && this.queue.length > 0) {
          const e = this.queue[0] as QueueEntry;
          if ('endMarker' in e) break;
          this.queue.shift();
          if (e.arrival < stale) {
            // Overloaded: answering this window now would be worse than not answering it.
            e.session.inFlight--;
            this.drop('shed');
            continue;
          }
          batch.push(e);
        }
        if (batch.length === 0) continue;
        const t0 = performance.now();
        let probs: Float32Array[];
        try {
          probs = await this.opts.engine.classify(batch.map((b) => b.window.features));
        } catch (err) {
          // stop() disposed the engine under this batch (Ctrl+C mid-stream): expected, not a bug to report.
          if (this.stopped) break;
          this.logError('inference', err);
          for (const b of batch) b.session.inFlight--;
          this.counters.dropped.error += batch.length;
          continue;
        }
        const t1 = performance.now();
        this.inference.add(t1 - t0);
        this.counters.batches++;
        this.counters.windows += batch.length;
        for (let i = 0; i < batch.length; i++) {
          const b = batch[i] as QueuedWindow;
          b.session.inFlight--;
          const p = probs[i];
          if (p === undefined) continue;
          this.sendResult(b, p);
        }
        // Yield to the event loop so datagrams that arrived during inference are read
        // (and joined into the next batch) before it starts.
        await new Promise<void>((resolve) => setImmediate(resolve));
      }
    } finally {
      this.running = false;
    }
    if (this.queue.length > 0) this.schedule();
  }

  // ---- replies -----------------------------------------------------------------------

  private sendResult(b: QueuedWindow, probs: Float32Array): void {
    const s = b.session;
    s.smoother ??= new PosteriorSmoother(this.opts.smoothWindows, this.opts.hopSamples / this.opts.engine.sampleRate);
    const { index, probability } = argmax(s.smoother.push(b.window.t, probs));
    const label = this.opts.engine.labels[index] ?? String(index);
    let sent: boolean;
    if (s.legacy) {
      sent = this.send(legacyReply(label, probability), b.triggerBytes, s.address, s.port);
    } else {
      const info: ResultInfo = { label, probability: roundProb(probability), seq: b.seq, t: Math.round(b.window.t * 1000) / 1000 };
      sent = this.reply(s, MsgType.result, b.window.endOffset, Buffer.from(JSON.stringify(info)), b.triggerBytes);
    }
    if (sent) this.latency.add(performance.now() - b.arrival);
  }

  private sendEnd(s: Session, triggerBytes: number): void {
    const c = s.counters();
    const info: EndInfo = { windows: c.windows, received: c.received, lost: c.lost, duplicate: c.duplicate, late: c.late };
    this.reply(s, MsgType.end, 0, Buffer.from(JSON.stringify(info)), Math.max(triggerBytes, 128));
  }

  private replyError(s: Session | null, m: Decoded, bytes: number, address: string, port: number, code: string, message: string): void {
    if (this.auth && s === null) return;
    const info: ErrorInfo = { error: code, message };
    const body = Buffer.from(JSON.stringify(info));
    const seq = s ? s.replySeq++ : 0;
    const out = encode({ type: MsgType.error, format: SampleFormat.none, sessionId: m.header.sessionId, seq, sampleRate: 0, offset: 0 }, body, this.auth ? this.auth.sign : undefined);
    this.send(out, bytes, address, port);
  }

  private reply(s: Session, type: number, offset: number, body: Buffer, triggerBytes: number): boolean {
    const out = encode(
      { type: type as (typeof MsgType)[keyof typeof MsgType], format: SampleFormat.none, sessionId: s.sessionId, seq: s.replySeq++, sampleRate: this.opts.engine.sampleRate, offset },
      body,
      this.auth ? this.auth.sign : undefined,
    );
    return this.send(out, triggerBytes, s.address, s.port);
  }

  /** Send unless the reply is larger than the datagram that caused it (no amplification). */
  private send(out: Buffer, triggerBytes: number, address: string, port: number): boolean {
    if (out.length > triggerBytes || this.socket === null || this.stopped) {
      this.counters.repliesSuppressed++;
      return false;
    }
    this.socket.send(out, port, address, (err) => {
      if (err) this.logError('send', err);
    });
    return true;
  }

  // ---- housekeeping ------------------------------------------------------------------

  private sweep(now: number): void {
    for (const s of this.sessions.values()) {
      // An ended session lingers a few seconds to answer a retransmitted BYE, then frees its slot.
      const limit = s.ended && !s.endPending ? Math.min(this.opts.idleMs, ENDED_LINGER_MS) : this.opts.idleMs;
      if (now - s.lastSeen > limit && s.inFlight === 0) this.removeSession(s);
    }
    this.limiter.sweep(now);
  }

  private logError(where: string, err: unknown): void {
    // Bounded: a flood that triggers a bug must not also flood the log.
    if (this.loggedErrors >= 20) return;
    this.loggedErrors++;
    const text = err instanceof Error ? (err.stack ?? err.message) : String(err);
    this.opts.log(`kws serve: ${where} error (${this.loggedErrors}/20 shown): ${text}`);
  }
}

/** Format one `--stats` line. */
export function statsLine(prev: ServerStats | null, cur: ServerStats, seconds: number, t: ReturnType<KwsServer['takeTimings']>): string {
  const dgs = (cur.datagrams - (prev?.datagrams ?? 0)) / seconds;
  const droppedTotal = (s: ServerStats | null): number => (s ? Object.values(s.dropped).reduce((a, b) => a + b, 0) + (s.kernelDrops ?? 0) : 0);
  const dropped = droppedTotal(cur) - droppedTotal(prev);
  const wps = (cur.windows - (prev?.windows ?? 0)) / seconds;
  const f = (v: number): string => (Number.isFinite(v) ? v.toFixed(1) : '-');
  return (
    `stats: sessions ${cur.sessions}, datagrams/s ${dgs.toFixed(1)}, dropped ${dropped}, windows/s ${wps.toFixed(1)}, ` +
    `inference p50 ${f(t.inferenceP50)} ms p99 ${f(t.inferenceP99)} ms, latency p50 ${f(t.latencyP50)} ms p99 ${f(t.latencyP99)} ms, ` +
    `lost ${cur.lost} dup ${cur.duplicate} late ${cur.late}`
  );
}

/**
 * Datagrams the kernel dropped on the UDP socket bound to `port` (receive queue full),
 * summed over /proc/net/udp and udp6; null where /proc is not available (not Linux).
 */
export function kernelDrops(port: number): number | null {
  let total = 0;
  let found = false;
  for (const file of ['/proc/net/udp', '/proc/net/udp6']) {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch {
      continue;
    }
    for (const line of text.split('\n').slice(1)) {
      const cols = line.trim().split(/\s+/);
      const local = cols[1];
      if (!local) continue;
      const p = parseInt(local.split(':')[1] ?? '', 16);
      if (p !== port) continue;
      found = true;
      total += Number(cols[cols.length - 1]) || 0;
    }
  }
  return found ? total : null;
}
