/**
 * The sending side of `kws stream`: a UDP client for the kws protocol (HELLO, AUDIO with
 * sequence numbers and sample offsets, BYE/END) or, with `legacy`, the original client's
 * raw 2048-byte PCM datagrams.
 *
 * Sockets come from dgram-as-promised (promise bind/send/close). Replies are read with a
 * plain 'message' listener on its underlying socket instead of its recv()/iterator: recv()
 * attaches a listener per call, so a datagram arriving between two calls (a RESULT and
 * the END right behind it) is lost; a permanent listener never misses one.
 */
import type { SocketAsPromised } from 'dgram-as-promised' with { 'resolution-mode': 'import' };
import { createAuthenticator, ReplayWindow, type Authenticator } from './auth';
import {
  decode,
  encode,
  hasMagic,
  int16ToPayload,
  MIN_HELLO_BYTES,
  MsgType,
  parseJsonPayload,
  SampleFormat,
  toEnd,
  toWelcome,
  type EndInfo,
  type WelcomeInfo,
} from './protocol';
import { ExitCode, UserError } from '../util/errors';

export interface ClientOptions {
  host: string;
  port: number;
  token?: string;
  legacy: boolean;
  /** Rate of the audio this client sends (kws protocol; legacy is always 16000). */
  sampleRate: number;
  /** How long to wait for each answer to HELLO/BYE before retrying. */
  retryMs?: number;
}

export interface ResultEvent {
  label: string;
  probability: number;
  /** End of the classified window, seconds of stream time (null for the legacy protocol). */
  t: number | null;
  seq: number | null;
  /** From sending the datagram that completed the window to receiving its result. */
  latencyMs: number | null;
}

const SEND_TIMES = 4096;

export class StreamClient {
  onResult: (r: ResultEvent) => void = () => undefined;
  onError: (message: string) => void = () => undefined;
  readonly sessionId: number;
  repliesReceived = 0;
  private seq = 0;
  private readonly auth: Authenticator | null;
  private readonly replay = new ReplayWindow();
  /** performance.now() at which each recent datagram was sent, by seq (a ring). */
  private readonly sendTimes = new Float64Array(SEND_TIMES);
  private waiters: { type: number; resolve: (payload: Record<string, unknown>) => void }[] = [];
  private refused = false;

  private constructor(
    private readonly sock: SocketAsPromised,
    readonly opts: ClientOptions,
  ) {
    this.auth = opts.token ? createAuthenticator(opts.token) : null;
    this.sessionId = (Math.floor(Math.random() * 0xfffffffe) + 1) >>> 0;
    sock.socket.on('message', (msg) => this.onMessage(msg));
    // An unconnected UDP socket reports nothing useful; errors surface through send().
    sock.socket.on('error', (err: NodeJS.ErrnoException) => {
      if (err.code === 'ECONNREFUSED') this.refused = true;
    });
  }

  static async connect(opts: ClientOptions): Promise<StreamClient> {
    const { DgramAsPromised } = await import('dgram-as-promised');
    const type = opts.host.includes(':') ? 'udp6' : 'udp4';
    const sock = DgramAsPromised.createSocket(type);
    await sock.bind(0, type === 'udp6' ? '::' : '0.0.0.0');
    const client = new StreamClient(sock, opts);
    return client;
  }

  get target(): string {
    return `${this.opts.host}:${this.opts.port}`;
  }

  get connectionRefused(): boolean {
    return this.refused;
  }

  /** Open the session: HELLO (padded, see docs/protocol.md) until WELCOME, 3 tries. */
  async hello(): Promise<WelcomeInfo> {
    const pad = Buffer.alloc(MIN_HELLO_BYTES);
    Buffer.from(JSON.stringify({ client: 'kws' })).copy(pad);
    for (let attempt = 0; attempt < 3; attempt++) {
      const reply = this.waitFor(MsgType.welcome, this.opts.retryMs ?? 1000);
      await this.sendKws(MsgType.hello, SampleFormat.s16le, 0, pad);
      const payload = await reply;
      if (payload) return toWelcome(payload);
    }
    throw this.noAnswer();
  }

  noAnswer(): UserError {
    const why = this.refused ? 'nothing is listening there (connection refused)' : this.opts.legacy ? 'no reply to any audio datagram' : 'no reply to 3 HELLOs, 1 s apart';
    const hint = this.opts.token
      ? 'Is `kws serve` running there, with the same --token? (A server with a token ignores datagrams it cannot authenticate.)'
      : 'Is `kws serve` running there? Start it with `kws serve -n MODEL`, or pass --host/--port.';
    return new UserError(`the server at ${this.target} did not answer (${why})`, { exitCode: ExitCode.network, hint });
  }

  /** Send one chunk of int16 audio that starts at sample `offset` of the stream. */
  async sendAudio(samples: Int16Array, offset: number): Promise<void> {
    const payload = int16ToPayload(samples);
    if (this.opts.legacy) {
      this.sendTimes[this.seq++ % SEND_TIMES] = performance.now();
      await this.sendRaw(payload);
      return;
    }
    await this.sendKws(MsgType.audio, SampleFormat.s16le, offset, payload);
  }

  /**
   * End of the stream: BYE until END (kws), or wait until the server has been quiet for
   * `quietMs` (legacy, which has no end message). Returns the server's counters (kws).
   */
  async finish(quietMs = 1500): Promise<EndInfo | null> {
    if (this.opts.legacy) {
      let last = this.repliesReceived;
      let quietSince = performance.now();
      const deadline = performance.now() + 30_000;
      while (performance.now() - quietSince < quietMs && performance.now() < deadline) {
        await sleep(100);
        if (this.repliesReceived !== last) {
          last = this.repliesReceived;
          quietSince = performance.now();
        }
      }
      return null;
    }
    for (let attempt = 0; attempt < 4; attempt++) {
      const reply = this.waitFor(MsgType.end, this.opts.retryMs ?? 1500);
      await this.sendKws(MsgType.bye, SampleFormat.none, 0, Buffer.alloc(0));
      const payload = await reply;
      if (payload) return toEnd(payload);
    }
    return null;
  }

  async close(): Promise<void> {
    try {
      await this.sock.close();
    } catch {
      // already closed
    }
  }

  private async sendKws(type: number, format: number, offset: number, payload: Uint8Array): Promise<void> {
    const seq = this.seq++;
    const buf = encode(
      { type: type as (typeof MsgType)[keyof typeof MsgType], format: format as (typeof SampleFormat)[keyof typeof SampleFormat], sessionId: this.sessionId, seq, sampleRate: this.opts.sampleRate, offset },
      payload,
      this.auth ? this.auth.sign : undefined,
    );
    this.sendTimes[seq % SEND_TIMES] = performance.now();
    await this.sendRaw(buf);
  }

  private async sendRaw(buf: Buffer): Promise<void> {
    try {
      await this.sock.send(buf, this.opts.port, this.opts.host);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      // Refused/unreachable are remembered and reported by the caller; datagrams are best effort.
      if (code === 'ECONNREFUSED') this.refused = true;
      else if (code !== 'EAGAIN' && code !== 'ENOBUFS') throw err;
    }
  }

  private waitFor(type: number, ms: number): Promise<Record<string, unknown> | null> {
    return new Promise((resolve) => {
      const waiter = {
        type,
        resolve: (p: Record<string, unknown>) => {
          clearTimeout(timer);
          resolve(p);
        },
      };
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w !== waiter);
        resolve(null);
      }, ms);
      this.waiters.push(waiter);
    });
  }

  private onMessage(msg: Buffer): void {
    const now = performance.now();
    if (this.opts.legacy) {
      if (hasMagic(msg)) return;
      const o = parseJsonPayload(msg);
      if (o === null || typeof o.label !== 'string' || typeof o.probability !== 'number') return;
      this.repliesReceived++;
      this.onResult({ label: o.label, probability: o.probability, t: null, seq: null, latencyMs: null });
      return;
    }
    const d = decode(msg);
    if (!d.ok) return;
    const { header, payload } = d.msg;
    if (header.sessionId !== this.sessionId) return;
    if (this.auth && !this.auth.verify(d.msg.signed, d.msg.tag)) return;
    if (this.replay.check(header.seq) !== 'new') return;
    this.replay.mark(header.seq);
    const body = parseJsonPayload(payload);
    if (body === null) return;
    this.repliesReceived++;
    if (header.type === MsgType.result) {
      const seq = typeof body.seq === 'number' ? body.seq : null;
      const sentAt = seq !== null && this.seq - seq < SEND_TIMES ? this.sendTimes[seq % SEND_TIMES] : undefined;
      if (typeof body.label !== 'string' || typeof body.probability !== 'number') return;
      this.onResult({
        label: body.label,
        probability: body.probability,
        t: typeof body.t === 'number' ? body.t : null,
        seq,
        latencyMs: sentAt !== undefined ? now - sentAt : null,
      });
      return;
    }
    if (header.type === MsgType.error) {
      this.onError(typeof body.message === 'string' ? body.message : 'the server reported an error');
    }
    for (const w of this.waiters) {
      if (w.type === header.type) {
        this.waiters = this.waiters.filter((x) => x !== w);
        w.resolve(body);
        return;
      }
    }
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
