/**
 * WAV reading and writing.
 *
 * Reading is our own RIFF walker rather than the `wav` package's Reader: the Reader is
 * an async stream (the contract here is a synchronous `decodeWav(buf)` that the feature
 * code calls per clip), it rejects any chunk between "WAVE" and "fmt " (JUNK/bext/LIST,
 * written by many recorders), it does not resolve WAVE_FORMAT_EXTENSIBLE (what sox and
 * most editors write for 24-bit and multi-channel files), and it only hands back bytes,
 * so the sample conversion would be ours anyway. docs/recording.md has the measurements.
 *
 * Writing is a 44-byte PCM header plus samples in one buffer: clips are short and are
 * written whole, atomically (temporary name, fsync, link), so a streaming writer that
 * patches the header at the end (wav.FileWriter) would only add a window in which a
 * crash leaves a file with a wrong header.
 */
import { promises as fsp, readSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { errnoCode, inputError, UserError } from '../util/errors';
import { publishNoClobber, tempPathFor } from '../util/fsutil';
import { resample } from './resample';

export type SampleFormat = 'int' | 'float';

export interface DecodedWav {
  sampleRate: number;
  channels: number;
  /** Bits per sample as stored: 8, 16, 24, 32 (int) or 32, 64 (float). */
  bitDepth: number;
  sampleFormat: SampleFormat;
  /** One array per channel, samples scaled to [-1, 1). */
  data: Float32Array[];
}

/** Where the samples are in a WAV file and how they are stored. */
export interface WavLayout {
  sampleRate: number;
  channels: number;
  bitDepth: number;
  sampleFormat: SampleFormat;
  /** Byte offset of the first sample. */
  dataOffset: number;
  /** Bytes of sample data actually present (whole frames only). */
  dataBytes: number;
  /** Bytes per frame (all channels of one sample instant). */
  blockAlign: number;
  /** The header promised more data than the file holds (a recording cut off mid-write). */
  truncated: boolean;
  /**
   * Data bytes the header declares, or undefined when it does not say (0 or 0xFFFFFFFF,
   * left by streaming writers). A pipe is read up to this, since its size is unknown.
   */
  declaredDataBytes?: number;
}

const LITTLE_ENDIAN = os.endianness() === 'LE';
const WAVE_FORMAT_PCM = 0x0001;
const WAVE_FORMAT_IEEE_FLOAT = 0x0003;
const WAVE_FORMAT_ALAW = 0x0006;
const WAVE_FORMAT_MULAW = 0x0007;
const WAVE_FORMAT_EXTENSIBLE = 0xfffe;

/** A source of bytes: a whole Buffer or an open file, read by offset. */
type ReadAt = (offset: number, length: number) => Buffer;

function formatName(code: number): string {
  switch (code) {
    case WAVE_FORMAT_ALAW:
      return 'A-law';
    case WAVE_FORMAT_MULAW:
      return 'mu-law';
    case 0x0002:
      return 'MS ADPCM';
    case 0x0011:
      return 'IMA ADPCM';
    case 0x0055:
      return 'MP3';
    default:
      return `format code 0x${code.toString(16).padStart(4, '0')}`;
  }
}

const CONVERT_HINT = 'Convert it to plain PCM first, e.g. `sox IN.wav -b 16 OUT.wav` or `ffmpeg -i IN -c:a pcm_s16le OUT.wav`.';

/**
 * Walk the RIFF chunks and find the format and the data. Tolerates what real files do:
 * chunks before "fmt " and after "data", odd-sized chunks with their pad byte, a data
 * size of 0 or 0xFFFFFFFF (streamed WAVs whose header was never patched) and a data
 * chunk that runs past the end of the file (a cut-off recording: we keep what is there).
 */
export function parseWavLayout(readAt: ReadAt, fileSize: number, name: string): WavLayout {
  const bad = (problem: string, hint?: string): UserError => inputError(`${name}: ${problem}`, hint);
  if (fileSize === 0) throw bad('the file is empty (0 bytes), not a WAV file');
  if (fileSize < 12) throw bad(`not a WAV file (only ${fileSize} bytes)`);
  const riff = readAt(0, 12);
  const magic = riff.toString('latin1', 0, 4);
  if (magic === 'RIFX') throw bad('big-endian WAV (RIFX) is not supported', CONVERT_HINT);
  if (magic === 'RF64') throw bad('RF64 (WAV larger than 4 GB) is not supported', 'Split the file or convert it to a normal WAV with sox.');
  if (magic !== 'RIFF' || riff.toString('latin1', 8, 12) !== 'WAVE') {
    const shown = JSON.stringify(riff.toString('latin1', 0, 4).replace(/[^\x20-\x7e]/g, '?'));
    throw bad(`not a WAV file (it starts with ${shown}, a WAV starts with "RIFF....WAVE")`);
  }
  let pos = 12;
  let fmt: { code: number; channels: number; sampleRate: number; blockAlign: number; bitDepth: number } | undefined;
  let data: { offset: number; size: number; truncated: boolean; declared: number | undefined } | undefined;
  while (pos + 8 <= fileSize) {
    const head = readAt(pos, 8);
    const id = head.toString('latin1', 0, 4);
    const size = head.readUInt32LE(4);
    const body = pos + 8;
    if (id === 'fmt ') {
      if (size < 16 || body + size > fileSize) throw bad(`the "fmt " chunk is ${size < 16 ? 'too short' : 'cut off'} (the file is damaged)`);
      const f = readAt(body, Math.min(size, 40));
      let code = f.readUInt16LE(0);
      if (code === WAVE_FORMAT_EXTENSIBLE) {
        if (size < 40) throw bad('WAVE_FORMAT_EXTENSIBLE header is too short (the file is damaged)');
        // The first two bytes of the SubFormat GUID are the plain format code.
        code = f.readUInt16LE(24);
      }
      fmt = { code, channels: f.readUInt16LE(2), sampleRate: f.readUInt32LE(4), blockAlign: f.readUInt16LE(12), bitDepth: f.readUInt16LE(14) };
    } else if (id === 'data') {
      const available = fileSize - body;
      // 0 and 0xFFFFFFFF are what streaming writers leave when they never patch the header.
      const unknown = size === 0 || size === 0xffffffff;
      const dataSize = unknown ? available : Math.min(size, available);
      data = { offset: body, size: dataSize, truncated: !unknown && size > available, declared: unknown ? undefined : size };
      if (fmt) break;
    }
    // Chunks are word-aligned: an odd size is followed by one pad byte.
    pos = body + size + (size & 1);
  }
  if (!fmt) throw bad('no "fmt " chunk: the file is damaged or not a WAV file');
  if (!data) throw bad('no "data" chunk: the file has a header but no audio (damaged or cut off)');
  const { code, channels, sampleRate, bitDepth } = fmt;
  let sampleFormat: SampleFormat;
  if (code === WAVE_FORMAT_PCM) {
    if (![8, 16, 24, 32].includes(bitDepth)) throw bad(`${bitDepth}-bit integer samples are not supported (8, 16, 24 and 32 are)`, CONVERT_HINT);
    sampleFormat = 'int';
  } else if (code === WAVE_FORMAT_IEEE_FLOAT) {
    if (bitDepth !== 32 && bitDepth !== 64) throw bad(`${bitDepth}-bit float samples are not supported (32 and 64 are)`, CONVERT_HINT);
    sampleFormat = 'float';
  } else {
    throw bad(`${formatName(code)} audio is not supported (kws reads PCM integer and float WAV)`, CONVERT_HINT);
  }
  if (channels < 1) throw bad('the header says 0 channels (the file is damaged)');
  if (sampleRate < 1) throw bad('the header says a sample rate of 0 Hz (the file is damaged)');
  // Trust bits and channels over blockAlign, which some writers get wrong.
  const blockAlign = (bitDepth / 8) * channels;
  const dataBytes = data.size - (data.size % blockAlign);
  const layout: WavLayout = { sampleRate, channels, bitDepth, sampleFormat, dataOffset: data.offset, dataBytes, blockAlign, truncated: data.truncated || dataBytes !== data.size };
  if (data.declared !== undefined) layout.declaredDataBytes = data.declared - (data.declared % blockAlign);
  return layout;
}

/** parseWavLayout on an open regular file of `size` bytes: reads only the header chunks it walks. */
export function parseWavLayoutFd(fd: number, size: number, name: string): WavLayout {
  return parseWavLayout(
    (offset, length) => {
      const b = Buffer.alloc(Math.max(0, Math.min(length, size - offset)));
      readSync(fd, b, 0, b.length, offset);
      return b;
    },
    size,
    name,
  );
}

/**
 * Convert interleaved sample bytes to one Float32Array per channel, scaled to [-1, 1).
 * Integer samples are divided by 2^(bits-1) (8-bit WAV is unsigned, offset 128), the
 * same scaling as libsndfile/librosa, so 16-bit audio gives exactly int16 / 32768.
 */
export function decodeSamples(bytes: Buffer, layout: Pick<WavLayout, 'channels' | 'bitDepth' | 'sampleFormat'>): Float32Array[] {
  const { channels, bitDepth, sampleFormat } = layout;
  const bps = bitDepth / 8;
  const frames = Math.floor(bytes.length / (bps * channels));
  const out: Float32Array[] = [];
  for (let c = 0; c < channels; c++) out.push(new Float32Array(frames));
  const step = bps * channels;
  if (bitDepth === 16 && sampleFormat === 'int' && LITTLE_ENDIAN) {
    // The common case, through a typed view: about 4x faster than readInt16LE per sample.
    const n = frames * channels;
    const view = bytes.byteOffset % 2 === 0 ? new Int16Array(bytes.buffer, bytes.byteOffset, n) : new Int16Array(Uint8Array.prototype.slice.call(bytes, 0, 2 * n).buffer);
    for (let c = 0; c < channels; c++) {
      const ch = out[c] as Float32Array;
      for (let i = 0, p = c; i < frames; i++, p += channels) ch[i] = (view[p] as number) / 32768;
    }
    return out;
  }
  for (let c = 0; c < channels; c++) {
    const ch = out[c] as Float32Array;
    let p = c * bps;
    if (sampleFormat === 'float') {
      if (bitDepth === 32) for (let i = 0; i < frames; i++, p += step) ch[i] = bytes.readFloatLE(p);
      else for (let i = 0; i < frames; i++, p += step) ch[i] = bytes.readDoubleLE(p);
    } else if (bitDepth === 16) {
      for (let i = 0; i < frames; i++, p += step) ch[i] = bytes.readInt16LE(p) / 32768;
    } else if (bitDepth === 24) {
      for (let i = 0; i < frames; i++, p += step) ch[i] = bytes.readIntLE(p, 3) / 8388608;
    } else if (bitDepth === 32) {
      for (let i = 0; i < frames; i++, p += step) ch[i] = bytes.readInt32LE(p) / 2147483648;
    } else {
      for (let i = 0; i < frames; i++, p += step) ch[i] = ((bytes[p] as number) - 128) / 128;
    }
  }
  return out;
}

/** Decode a whole WAV file held in memory. `name` is used in error messages. */
export function decodeWav(buf: Buffer, name: string): DecodedWav {
  const layout = parseWavLayout((o, n) => buf.subarray(o, o + n), buf.length, name);
  const bytes = buf.subarray(layout.dataOffset, layout.dataOffset + layout.dataBytes);
  return {
    sampleRate: layout.sampleRate,
    channels: layout.channels,
    bitDepth: layout.bitDepth,
    sampleFormat: layout.sampleFormat,
    data: decodeSamples(bytes, layout),
  };
}

/** Read a file, turning the usual failures into messages that name the file. */
export async function readFileForInput(file: string): Promise<Buffer> {
  try {
    return await fsp.readFile(file);
  } catch (err) {
    throw fileReadError(file, err);
  }
}

export function fileReadError(file: string, err: unknown): UserError {
  const code = errnoCode(err);
  if (code === 'ENOENT') return inputError(`${file}: no such file`);
  if (code === 'EISDIR') return inputError(`${file}: is a folder, not a WAV file`);
  if (code === 'EACCES' || code === 'EPERM') return inputError(`${file}: permission denied`);
  return inputError(`${file}: cannot read (${code ?? String(err)})`);
}

export async function readWavFile(file: string): Promise<DecodedWav> {
  return decodeWav(await readFileForInput(file), file);
}

/** Average the channels (what librosa's to_mono does). */
export function mixToMono(data: Float32Array[]): Float32Array {
  if (data.length === 1) return data[0] as Float32Array;
  const n = (data[0] as Float32Array).length;
  const out = new Float32Array(n);
  for (const ch of data) for (let i = 0; i < n; i++) out[i] = (out[i] as number) + (ch[i] as number);
  const k = 1 / data.length;
  for (let i = 0; i < n; i++) out[i] = (out[i] as number) * k;
  return out;
}

/**
 * A clip as the models see it: mono, at `targetRate`, floats in [-1, 1).
 * A 16-bit mono file at the target rate comes back bit-exactly as int16 / 32768.
 */
export async function loadClip(file: string, targetRate = 16000): Promise<Float32Array> {
  const wav = await readWavFile(file);
  const mono = mixToMono(wav.data);
  return wav.sampleRate === targetRate ? mono : resample(mono, wav.sampleRate, targetRate);
}

/** Round half to even (numpy's rint), so our int16 conversion matches numpy's. */
function rint(v: number): number {
  const r = Math.round(v);
  return r - v === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/** clip(rint(x * 32768)) to the int16 range. */
export function floatToInt16(x: Float32Array): Int16Array {
  const out = new Int16Array(x.length);
  for (let i = 0; i < x.length; i++) {
    const v = rint((x[i] as number) * 32768);
    out[i] = v > 32767 ? 32767 : v < -32768 ? -32768 : v;
  }
  return out;
}

export function int16ToFloat(x: Int16Array): Float32Array {
  const out = new Float32Array(x.length);
  for (let i = 0; i < x.length; i++) out[i] = (x[i] as number) / 32768;
  return out;
}

function writeHeader(buf: Buffer, opts: { formatCode: number; channels: number; sampleRate: number; bitDepth: number; dataBytes: number }): void {
  const blockAlign = opts.channels * (opts.bitDepth / 8);
  buf.write('RIFF', 0, 'latin1');
  buf.writeUInt32LE(36 + opts.dataBytes, 4);
  buf.write('WAVE', 8, 'latin1');
  buf.write('fmt ', 12, 'latin1');
  buf.writeUInt32LE(16, 16);
  buf.writeUInt16LE(opts.formatCode, 20);
  buf.writeUInt16LE(opts.channels, 22);
  buf.writeUInt32LE(opts.sampleRate, 24);
  buf.writeUInt32LE(opts.sampleRate * blockAlign, 28);
  buf.writeUInt16LE(blockAlign, 32);
  buf.writeUInt16LE(opts.bitDepth, 34);
  buf.write('data', 36, 'latin1');
  buf.writeUInt32LE(opts.dataBytes, 40);
}

/** A 16-bit PCM WAV (mono unless `channels` says otherwise; samples interleaved). */
export function encodeWav(samples: Int16Array, sampleRate: number, channels = 1): Buffer {
  const dataBytes = samples.length * 2;
  const buf = Buffer.alloc(44 + dataBytes);
  writeHeader(buf, { formatCode: WAVE_FORMAT_PCM, channels, sampleRate, bitDepth: 16, dataBytes });
  for (let i = 0; i < samples.length; i++) buf.writeInt16LE(samples[i] as number, 44 + 2 * i);
  return buf;
}

/**
 * Any supported format, from floats in [-1, 1] (clipped and rounded for integer formats).
 * Used for tests and conversions; recordings are always 16-bit via encodeWav.
 */
export function encodeWavFormat(wav: DecodedWav): Buffer {
  const { channels, bitDepth, sampleFormat, sampleRate, data } = wav;
  if (data.length !== channels) throw new Error(`encodeWavFormat: ${data.length} channel arrays for ${channels} channels`);
  const frames = data.length ? (data[0] as Float32Array).length : 0;
  const bps = bitDepth / 8;
  const dataBytes = frames * channels * bps;
  const buf = Buffer.alloc(44 + dataBytes);
  writeHeader(buf, { formatCode: sampleFormat === 'float' ? WAVE_FORMAT_IEEE_FLOAT : WAVE_FORMAT_PCM, channels, sampleRate, bitDepth, dataBytes });
  const full = 2 ** (bitDepth - 1);
  let p = 44;
  for (let i = 0; i < frames; i++) {
    for (let c = 0; c < channels; c++, p += bps) {
      const v = (data[c] as Float32Array)[i] as number;
      if (sampleFormat === 'float') {
        if (bitDepth === 32) buf.writeFloatLE(v, p);
        else buf.writeDoubleLE(v, p);
      } else {
        const q = Math.max(-full, Math.min(full - 1, rint(v * full)));
        if (bitDepth === 8) buf[p] = q + 128;
        else buf.writeIntLE(q, p, bps);
      }
    }
  }
  return buf;
}

/**
 * Write a WAV atomically and never over an existing file: the bytes go to a hidden
 * temporary sibling, are fsynced, then hard-linked to `target` (link fails with EEXIST
 * where rename would replace). Returns false if `target` already exists.
 */
export async function writeWavNoClobber(target: string, wavBytes: Buffer): Promise<boolean> {
  const tmp = tempPathFor(target);
  const handle = await fsp.open(tmp, 'wx');
  try {
    await handle.writeFile(wavBytes);
    await handle.sync();
  } catch (err) {
    await handle.close();
    await fsp.rm(tmp, { force: true });
    throw err;
  }
  await handle.close();
  try {
    await publishNoClobber(tmp, target);
    return true;
  } catch (err) {
    const code = errnoCode(err);
    if (code === 'EEXIST') return false;
    // Filesystems without hard links (FAT/exFAT sticks, some network shares): fall back
    // to an exclusive create, which still never replaces a file, though a crash mid-write
    // could leave a short one there.
    if (code === 'EPERM' || code === 'ENOTSUP' || code === 'EOPNOTSUPP' || code === 'ENOSYS' || code === 'EMLINK') {
      return writeExclusive(target, wavBytes);
    }
    throw err;
  }
}

async function writeExclusive(target: string, bytes: Buffer): Promise<boolean> {
  let handle;
  try {
    handle = await fsp.open(target, 'wx');
  } catch (err) {
    if (errnoCode(err) === 'EEXIST') return false;
    throw err;
  }
  try {
    await handle.writeFile(bytes);
    await handle.sync();
  } finally {
    await handle.close();
  }
  return true;
}

/**
 * Save `samples` as a 16-bit WAV in `dir` under a fresh name from `makeName`, retrying
 * with a new name if one is taken. Returns the path written.
 */
export async function saveClip(dir: string, makeName: () => string, samples: Int16Array, sampleRate: number): Promise<string> {
  const bytes = encodeWav(samples, sampleRate);
  for (let attempt = 0; attempt < 100; attempt++) {
    const target = path.join(dir, makeName());
    if (await writeWavNoClobber(target, bytes)) return target;
  }
  throw inputError(`${dir}: could not find a free file name after 100 tries`);
}
