/**
 * The kws streaming protocol, version 1 (specified in docs/protocol.md).
 *
 * Every kws datagram starts with a fixed 28-byte little-endian header; audio follows as
 * raw samples, control and result messages carry a JSON payload. With a shared token the
 * sender appends a 16-byte HMAC-SHA256 tag over header and payload (see auth.ts).
 *
 * A datagram that does not start with the magic is the original client's raw PCM
 * (1024 int16 samples, no header), which the server still serves (see server.ts).
 *
 * Decoding never throws: every field of an untrusted datagram is checked and a reason
 * is returned instead, so the server can count what it dropped.
 */

/** "KWS" — chosen so that it is vanishingly unlikely as the first two samples of raw PCM. */
export const MAGIC0 = 0x4b;
export const MAGIC1 = 0x57;
export const MAGIC2 = 0x53;
export const PROTOCOL_VERSION = 1;
export const HEADER_BYTES = 28;
export const TAG_BYTES = 16;

/** The largest datagram the server reads at all: a header, 8192 int16/float32 samples and a tag. */
export const MAX_DATAGRAM_BYTES = HEADER_BYTES + 8192 * 4 + TAG_BYTES;
/** The largest raw (original-client) datagram: 8192 int16 samples; the original sends 2048 bytes. */
export const MAX_RAW_BYTES = 8192 * 2;
/** The smallest HELLO the server answers; the answer (WELCOME) is never longer than the HELLO. */
export const MIN_HELLO_BYTES = 512;

export const MsgType = {
  // client -> server
  hello: 0x01,
  audio: 0x02,
  bye: 0x03,
  ping: 0x04,
  // server -> client
  welcome: 0x81,
  result: 0x82,
  error: 0x83,
  pong: 0x84,
  end: 0x85,
} as const;
export type MsgTypeValue = (typeof MsgType)[keyof typeof MsgType];
const MSG_TYPES = new Set<number>(Object.values(MsgType));

export const Flag = {
  /** A 16-byte HMAC tag follows the payload. */
  auth: 0x01,
} as const;

export const SampleFormat = {
  none: 0,
  s16le: 1,
  f32le: 2,
} as const;
export type SampleFormatValue = (typeof SampleFormat)[keyof typeof SampleFormat];

export function bytesPerSample(format: number): number {
  return format === SampleFormat.s16le ? 2 : format === SampleFormat.f32le ? 4 : 0;
}

/** Sample rates a client may declare; anything else would make the resampler do silly work. */
export const MIN_RATE = 4000;
export const MAX_RATE = 192000;

export interface Header {
  version: number;
  type: MsgTypeValue;
  flags: number;
  format: SampleFormatValue;
  sessionId: number;
  /** Per-sender datagram counter (every message type uses it), for loss/duplicate/replay detection. */
  seq: number;
  /** Audio: the sender's sample rate. Replies: 16000 (the model's rate). */
  sampleRate: number;
  /**
   * Audio: index (at `sampleRate`) of the first sample in this datagram, so skipped silence
   * and lost datagrams land at the right place. Results: the end of the classified window.
   */
  offset: number;
}

export interface Decoded {
  header: Header;
  payload: Buffer;
  /** The bytes the tag covers (header + payload); empty tag when unauthenticated. */
  signed: Buffer;
  tag: Buffer | null;
}

export type DecodeFailure =
  | 'short'
  | 'magic'
  | 'version'
  | 'type'
  | 'format'
  | 'rate'
  | 'length'
  | 'session';

export type DecodeResult = { ok: true; msg: Decoded } | { ok: false; reason: DecodeFailure };

/** True when the datagram claims to be a kws datagram (starts with the magic). */
export function hasMagic(buf: Buffer): boolean {
  return buf.length >= 3 && buf[0] === MAGIC0 && buf[1] === MAGIC1 && buf[2] === MAGIC2;
}

/** 48-bit offsets: at 192 kHz that is 46 years of audio, and it stays a safe JS integer. */
const MAX_OFFSET = 2 ** 48 - 1;

export function decode(buf: Buffer): DecodeResult {
  if (buf.length < HEADER_BYTES) return { ok: false, reason: hasMagic(buf) ? 'short' : 'magic' };
  if (!hasMagic(buf)) return { ok: false, reason: 'magic' };
  const version = buf[3] as number;
  if (version !== PROTOCOL_VERSION) return { ok: false, reason: 'version' };
  const type = buf[4] as number;
  if (!MSG_TYPES.has(type)) return { ok: false, reason: 'type' };
  const flags = buf[5] as number;
  const format = buf[6] as number;
  if (format !== SampleFormat.none && format !== SampleFormat.s16le && format !== SampleFormat.f32le) return { ok: false, reason: 'format' };
  const sessionId = buf.readUInt32LE(8);
  if (sessionId === 0) return { ok: false, reason: 'session' };
  const seq = buf.readUInt32LE(12);
  const sampleRate = buf.readUInt32LE(16);
  // Offsets are 48-bit; the top two bytes are reserved and must be zero.
  const offset = buf.readUIntLE(20, 6);
  if (buf.readUInt16LE(26) !== 0) return { ok: false, reason: 'length' };
  const tagged = (flags & Flag.auth) !== 0;
  const end = buf.length - (tagged ? TAG_BYTES : 0);
  if (end < HEADER_BYTES) return { ok: false, reason: 'length' };
  const payload = buf.subarray(HEADER_BYTES, end);
  if (type === MsgType.audio) {
    const bps = bytesPerSample(format);
    if (bps === 0 || payload.length === 0 || payload.length % bps !== 0) return { ok: false, reason: 'length' };
    if (sampleRate < MIN_RATE || sampleRate > MAX_RATE) return { ok: false, reason: 'rate' };
  }
  return {
    ok: true,
    msg: {
      header: { version, type: type as MsgTypeValue, flags, format: format as SampleFormatValue, sessionId, seq, sampleRate, offset },
      payload,
      signed: buf.subarray(0, end),
      tag: tagged ? buf.subarray(end) : null,
    },
  };
}

/** Build a datagram. `sign` (from auth.ts) appends the tag and sets the auth flag when given. */
export function encode(
  h: Omit<Header, 'version' | 'flags'> & { flags?: number },
  payload: Uint8Array,
  sign?: (signed: Buffer) => Buffer,
): Buffer {
  const tagged = sign !== undefined;
  const buf = Buffer.allocUnsafe(HEADER_BYTES + payload.length + (tagged ? TAG_BYTES : 0));
  buf[0] = MAGIC0;
  buf[1] = MAGIC1;
  buf[2] = MAGIC2;
  buf[3] = PROTOCOL_VERSION;
  buf[4] = h.type;
  buf[5] = (h.flags ?? 0) | (tagged ? Flag.auth : 0);
  buf[6] = h.format;
  buf[7] = 0;
  buf.writeUInt32LE(h.sessionId >>> 0, 8);
  buf.writeUInt32LE(h.seq >>> 0, 12);
  buf.writeUInt32LE(h.sampleRate >>> 0, 16);
  buf.writeUIntLE(Math.min(Math.max(0, Math.floor(h.offset)), MAX_OFFSET), 20, 6);
  buf.writeUInt16LE(0, 26);
  Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength).copy(buf, HEADER_BYTES);
  if (tagged) {
    const end = HEADER_BYTES + payload.length;
    sign(buf.subarray(0, end)).copy(buf, end, 0, TAG_BYTES);
  }
  return buf;
}

/** Samples of an audio payload as floats in [-1, 1). Copies, so the datagram buffer can be reused. */
export function payloadToFloat(payload: Buffer, format: number): Float32Array {
  if (format === SampleFormat.s16le) {
    const n = payload.length >> 1;
    const out = new Float32Array(n);
    for (let i = 0; i < n; i++) out[i] = payload.readInt16LE(2 * i) / 32768;
    return out;
  }
  const n = payload.length >> 2;
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    const v = payload.readFloatLE(4 * i);
    // NaN/Inf from a hostile client would poison the features of this session forever.
    out[i] = Number.isFinite(v) ? Math.max(-1, Math.min(1, v)) : 0;
  }
  return out;
}

export function int16ToPayload(samples: Int16Array): Buffer {
  const buf = Buffer.allocUnsafe(samples.length * 2);
  for (let i = 0; i < samples.length; i++) buf.writeInt16LE(samples[i] as number, 2 * i);
  return buf;
}

// ---- JSON payloads -------------------------------------------------------------------

/** What the server says about itself in WELCOME. */
export interface WelcomeInfo {
  v: number;
  model: string;
  labels?: string[];
  sampleRate: number;
  windowSamples: number;
  hopSamples: number;
  /** The server's per-source datagram rate limit, so a client sending faster than real time can stay under it. */
  maxDatagramsPerSec?: number;
}

/** One classified window. `t` and `end` are the window's end in the client's stream time. */
export interface ResultInfo {
  label: string;
  probability: number;
  /** Sequence number of the datagram that completed the window. */
  seq: number;
  /** End of the window in seconds of stream time. */
  t: number;
}

export interface EndInfo {
  windows: number;
  received: number;
  lost: number;
  duplicate: number;
  late: number;
}

export interface ErrorInfo {
  error: string;
  message: string;
}

const num = (v: unknown, fallback = 0): number => (typeof v === 'number' && Number.isFinite(v) ? v : fallback);

/** A WELCOME body as the client may rely on it (missing or wrong-typed fields get safe values). */
export function toWelcome(o: Record<string, unknown>): WelcomeInfo {
  const labels = Array.isArray(o.labels) && o.labels.every((l) => typeof l === 'string') ? (o.labels as string[]) : undefined;
  return {
    v: num(o.v, 1),
    model: typeof o.model === 'string' ? o.model : '?',
    ...(labels ? { labels } : {}),
    sampleRate: num(o.sampleRate),
    windowSamples: num(o.windowSamples),
    hopSamples: num(o.hopSamples),
    ...(typeof o.maxDatagramsPerSec === 'number' && o.maxDatagramsPerSec > 0 ? { maxDatagramsPerSec: o.maxDatagramsPerSec } : {}),
  };
}

export function toEnd(o: Record<string, unknown>): EndInfo {
  return { windows: num(o.windows), received: num(o.received), lost: num(o.lost), duplicate: num(o.duplicate), late: num(o.late) };
}

/** Parse a JSON payload that may be followed by NUL padding; null when it is not an object. */
export function parseJsonPayload(payload: Buffer): Record<string, unknown> | null {
  let end = payload.indexOf(0);
  if (end < 0) end = payload.length;
  if (end === 0) return {};
  try {
    const v: unknown = JSON.parse(payload.toString('utf8', 0, end));
    return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : null;
  } catch {
    return null;
  }
}

/** Round a probability the way the original printed it (4 decimals keeps replies short). */
export function roundProb(p: number): number {
  return Math.round(p * 10000) / 10000;
}

/**
 * The original server's reply: Python's json.dumps of {"label": ..., "probability": ...},
 * i.e. with ", " and ": " separators, so byte-for-byte what udpserver.py sent.
 */
export function legacyReply(label: string, probability: number): Buffer {
  return Buffer.from(`{"label": ${JSON.stringify(label)}, "probability": ${roundProb(probability)}}`, 'utf8');
}
