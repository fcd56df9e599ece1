/**
 * Authentication and replay protection for the kws protocol.
 *
 * With `--token SECRET` every datagram carries HMAC-SHA256(key, header || payload),
 * truncated to 16 bytes (128 bits, as in TLS/IPsec truncated HMACs). The header holds the
 * session id and sequence number, so a tag also binds a datagram to its place in its
 * session: a replayed datagram has a valid tag but a sequence number the receiver has
 * already seen, which the ReplayWindow rejects.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import { TAG_BYTES } from './protocol';

export interface Authenticator {
  sign(signed: Buffer): Buffer;
  verify(signed: Buffer, tag: Buffer | null): boolean;
}

/**
 * The key is derived from the token with a fixed label, so the raw token is never used
 * directly as an HMAC key elsewhere by accident (and a future v2 can derive another).
 */
export function createAuthenticator(token: string): Authenticator {
  const key = createHmac('sha256', 'kws-protocol-v1').update(token, 'utf8').digest();
  const sign = (signed: Buffer): Buffer => createHmac('sha256', key).update(signed).digest().subarray(0, TAG_BYTES);
  return {
    sign,
    verify(signed, tag) {
      if (tag === null || tag.length !== TAG_BYTES) return false;
      return timingSafeEqual(sign(signed), tag);
    },
  };
}

/**
 * Which sequence numbers have been seen, over a sliding window of the most recent
 * `size` (the DTLS/IPsec anti-replay window). Anything older than the window is treated
 * as a replay: a real datagram delayed that long is useless for live audio anyway.
 */
export class ReplayWindow {
  private readonly seen: Uint8Array;
  private highest = -1;

  constructor(readonly size = 1024) {
    this.seen = new Uint8Array(size);
  }

  get highestSeq(): number {
    return this.highest;
  }

  /** 'new' if seq has not been seen and is within the window; otherwise why not. */
  check(seq: number): 'new' | 'duplicate' | 'old' {
    if (seq > this.highest) return 'new';
    if (this.highest - seq >= this.size) return 'old';
    return this.seen[seq % this.size] === 1 ? 'duplicate' : 'new';
  }

  /** Record seq as seen; call only after check() said 'new' (and the tag verified). */
  mark(seq: number): void {
    if (seq > this.highest) {
      const gap = seq - this.highest;
      if (gap >= this.size || this.highest < 0) this.seen.fill(0);
      else for (let s = this.highest + 1; s < seq; s++) this.seen[s % this.size] = 0;
      this.highest = seq;
    }
    this.seen[seq % this.size] = 1;
  }
}
