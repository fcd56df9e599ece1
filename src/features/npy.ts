/**
 * Minimal NumPy .npy reader and writer (format versions 1.0-3.0), for the original's
 * stats files (`stats/NAME.npy`) and `kws features --out FILE.npy`.
 *
 * Reads little- or big-endian float32/float64 and integer arrays in C or Fortran order
 * (Fortran order is transposed to C order on read); writes little-endian float32 or
 * float64 in C order, version 1.0, which every NumPy reads with np.load.
 */

export type NpyDtype = '<f4' | '<f8';

export interface NpyArray {
  shape: number[];
  /** Values in C (row-major) order, as float64. */
  data: Float64Array;
  /** The dtype string from the file, e.g. '<f4'. */
  dtype: string;
}

const MAGIC = Buffer.from([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]); // \x93NUMPY

/** Thrown for files that are not valid .npy; callers wrap it with the file name. */
export class NpyFormatError extends Error {}

function parseHeader(text: string): { descr: string; fortran: boolean; shape: number[] } {
  // The header is a Python dict literal such as
  // {'descr': '<f4', 'fortran_order': False, 'shape': (2, 40, 33), }
  const descr = /['"]descr['"]\s*:\s*['"]([^'"]+)['"]/.exec(text);
  const fortran = /['"]fortran_order['"]\s*:\s*(True|False)/.exec(text);
  const shape = /['"]shape['"]\s*:\s*\(([^)]*)\)/.exec(text);
  if (!descr || !fortran || !shape) throw new NpyFormatError(`unreadable .npy header: ${text.trim()}`);
  const dims = shape[1]
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s.length > 0)
    .map((s) => Number(s.replace(/L$/, '')));
  if (dims.some((d) => !Number.isInteger(d) || d < 0)) throw new NpyFormatError(`bad shape in .npy header: (${shape[1]})`);
  return { descr: descr[1], fortran: fortran[1] === 'True', shape: dims };
}

export function parseNpy(buf: Buffer): NpyArray {
  if (buf.length < 10 || !buf.subarray(0, 6).equals(MAGIC)) throw new NpyFormatError('not a NumPy .npy file (bad magic bytes)');
  const major = buf[6];
  let headerLen: number;
  let headerStart: number;
  if (major === 1) {
    headerLen = buf.readUInt16LE(8);
    headerStart = 10;
  } else if (major === 2 || major === 3) {
    if (buf.length < 12) throw new NpyFormatError('truncated .npy header');
    headerLen = buf.readUInt32LE(8);
    headerStart = 12;
  } else {
    throw new NpyFormatError(`unsupported .npy format version ${major}`);
  }
  if (headerStart + headerLen > buf.length) throw new NpyFormatError('truncated .npy header');
  const header = parseHeader(buf.subarray(headerStart, headerStart + headerLen).toString(major === 3 ? 'utf8' : 'latin1'));
  const m = /^([<>|=])([fiu])(\d)$/.exec(header.descr);
  if (!m) throw new NpyFormatError(`unsupported .npy dtype ${header.descr} (need a float or integer array)`);
  const little = m[1] !== '>';
  const type = m[2];
  const width = Number(m[3]);
  const count = header.shape.reduce((a, b) => a * b, 1);
  const offset = headerStart + headerLen;
  if (buf.length < offset + count * width) {
    throw new NpyFormatError(`.npy data truncated: shape (${header.shape.join(', ')}) needs ${count * width} bytes, file has ${buf.length - offset}`);
  }
  const read = reader(type, width, little);
  if (!read) throw new NpyFormatError(`unsupported .npy dtype ${header.descr}`);
  const raw = new Float64Array(count);
  for (let i = 0; i < count; i++) raw[i] = read(buf, offset + i * width);
  const data = header.fortran && header.shape.length > 1 ? fortranToC(raw, header.shape) : raw;
  return { shape: header.shape, data, dtype: header.descr };
}

function reader(type: string, width: number, little: boolean): ((b: Buffer, o: number) => number) | null {
  if (type === 'f' && width === 4) return little ? (b, o) => b.readFloatLE(o) : (b, o) => b.readFloatBE(o);
  if (type === 'f' && width === 8) return little ? (b, o) => b.readDoubleLE(o) : (b, o) => b.readDoubleBE(o);
  if (type === 'i' && width === 1) return (b, o) => b.readInt8(o);
  if (type === 'u' && width === 1) return (b, o) => b.readUInt8(o);
  if (type === 'i' && width === 2) return little ? (b, o) => b.readInt16LE(o) : (b, o) => b.readInt16BE(o);
  if (type === 'i' && width === 4) return little ? (b, o) => b.readInt32LE(o) : (b, o) => b.readInt32BE(o);
  if (type === 'i' && width === 8) return little ? (b, o) => Number(b.readBigInt64LE(o)) : (b, o) => Number(b.readBigInt64BE(o));
  return null;
}

function fortranToC(src: Float64Array, shape: number[]): Float64Array {
  const n = shape.length;
  const out = new Float64Array(src.length);
  const idx = new Array<number>(n).fill(0);
  // Fortran strides: first axis fastest.
  const fstride: number[] = [];
  let s = 1;
  for (let d = 0; d < n; d++) {
    fstride.push(s);
    s *= shape[d];
  }
  for (let c = 0; c < out.length; c++) {
    let f = 0;
    for (let d = 0; d < n; d++) f += idx[d] * fstride[d];
    out[c] = src[f];
    for (let d = n - 1; d >= 0; d--) {
      if (++idx[d] < shape[d]) break;
      idx[d] = 0;
    }
  }
  return out;
}

/** Encode a C-order array as .npy version 1.0 (little-endian float32 by default). */
export function encodeNpy(data: ArrayLike<number>, shape: number[], dtype: NpyDtype = '<f4'): Buffer {
  const count = shape.reduce((a, b) => a * b, 1);
  if (count !== data.length) throw new RangeError(`npy shape (${shape.join(', ')}) holds ${count} values but ${data.length} were given`);
  const shapeText = shape.length === 1 ? `(${shape[0]},)` : `(${shape.join(', ')})`;
  let header = `{'descr': '${dtype}', 'fortran_order': False, 'shape': ${shapeText}, }`;
  // Pad with spaces so magic + version + length + header + '\n' is a multiple of 64.
  const total = 10 + header.length + 1;
  header += ' '.repeat((64 - (total % 64)) % 64) + '\n';
  const width = dtype === '<f4' ? 4 : 8;
  const out = Buffer.alloc(10 + header.length + count * width);
  MAGIC.copy(out, 0);
  out[6] = 1;
  out[7] = 0;
  out.writeUInt16LE(header.length, 8);
  out.write(header, 10, 'latin1');
  const base = 10 + header.length;
  if (width === 4) for (let i = 0; i < count; i++) out.writeFloatLE(data[i], base + 4 * i);
  else for (let i = 0; i < count; i++) out.writeDoubleLE(data[i], base + 8 * i);
  return out;
}
