/**
 * Audio sources: the microphone, a WAV file, or raw PCM on stdin, all delivered the
 * same way: an async iterable of Int16Array chunks of 16 kHz mono audio (the format
 * of the original tool and of every model kws trains). Anything else (44.1 kHz,
 * stereo, 24-bit, float) is mixed to mono and put through the band-limited resampler.
 *
 * `stop()` ends the iteration cleanly: the recorder is stopped, a paced file stops
 * waiting, and the loop that consumes the source simply finishes (so Ctrl+C can save
 * the clip in progress).
 */
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { PassThrough, type Readable } from 'node:stream';
// A static import (compiled to require): node-record-lpcm16 exports an object literal that
// `await import()` cannot see named exports in. It is light, and this module is itself
// loaded lazily by the commands.
import { record } from 'node-record-lpcm16';
import { ExitCode, UserError, inputError, isUserError, usageError } from '../util/errors';
import { RAW_FORMATS, type Pace, type RawFormat, type Recorder, type RecorderChoice } from './choices';
import { Resampler } from './resample';
import { decodeSamples, fileReadError, floatToInt16, mixToMono, parseWavLayout, parseWavLayoutFd, type SampleFormat, type WavLayout } from './wav';

export const SAMPLE_RATE = 16000;
export const DEFAULT_CHUNK = 1024;

export { RECORDERS, RAW_FORMATS, type RecorderChoice, type Recorder, type RawFormat, type Pace } from './choices';

export interface AudioSourceOptions {
  /** undefined: the microphone; '-': raw PCM on stdin; anything else: a WAV file. */
  input?: string;
  /** Raw stdin only: sample rate (default 16000). */
  rate?: number;
  /** Raw stdin only: sample format (default s16le). */
  format?: RawFormat;
  /** Raw stdin only: interleaved channels (default 1). */
  channels?: number;
  /** Microphone: which program records (default auto: rec, then arecord, then sox). */
  recorder?: RecorderChoice;
  /** Microphone: the device (arecord -D NAME; AUDIODEV for sox/rec). */
  device?: string;
  /** Files: deliver at the speed of a live microphone, or as fast as possible (default fast). */
  pace?: Pace;
  /** Samples per chunk (default 1024, the original's). */
  chunkSamples?: number;
  /** Where stdin data comes from (tests pass a stream; default process.stdin). */
  stdin?: Readable;
}

export interface AudioSource extends AsyncIterable<Int16Array> {
  /** For people: what is being read, e.g. "microphone (arecord, device default)". */
  readonly description: string;
  readonly sampleRate: number;
  readonly chunkSamples: number;
  /** End the iteration at the next chunk boundary; safe to call more than once. */
  stop(): void;
  /** True once stop() was called. */
  readonly stopped: boolean;
}

/** A source of arbitrary-length pieces of 16 kHz mono int16 audio. */
interface RawSource {
  description: string;
  pieces: AsyncIterable<Int16Array>;
  /** Called once by stop(): end the pieces promptly (kill, close, wake). */
  close(): void;
  pace: Pace;
}

const INSTALL_HINTS: Record<Recorder, string> = {
  rec: 'Install SoX: Debian/Ubuntu `sudo apt install sox` (plus `libsox-fmt-pulse` for PulseAudio), macOS `brew install sox`, Windows `choco install sox.portable` (or the installer from sox.sourceforge.net, then add it to PATH).',
  sox: 'Install SoX: Debian/Ubuntu `sudo apt install sox` (plus `libsox-fmt-pulse` for PulseAudio), macOS `brew install sox`, Windows `choco install sox.portable` (or the installer from sox.sourceforge.net, then add it to PATH).',
  arecord: 'Install ALSA utilities: Debian/Ubuntu `sudo apt install alsa-utils`. arecord is Linux-only: on macOS or Windows use `--recorder rec` (SoX: `brew install sox` / `choco install sox.portable`).',
};

/** The full path of `cmd` on PATH, or undefined (PATHEXT is honoured on Windows). */
export function findOnPath(cmd: string, env: NodeJS.ProcessEnv = process.env): string | undefined {
  const dirs = (env.PATH ?? '').split(path.delimiter).filter(Boolean);
  const exts = process.platform === 'win32' ? (env.PATHEXT ?? '.EXE;.CMD;.BAT').split(';') : [''];
  for (const dir of dirs) {
    for (const ext of exts) {
      const p = path.join(dir, cmd + ext);
      try {
        fs.accessSync(p, fs.constants.X_OK);
        if (fs.statSync(p).isFile()) return p;
      } catch {
        // not here
      }
    }
  }
  return undefined;
}

function missingRecorder(recorder: Recorder): UserError {
  return new UserError(`cannot record from the microphone: \`${recorder}\` is not installed (not found on PATH)`, {
    exitCode: ExitCode.dependency,
    hint: `${INSTALL_HINTS[recorder]}\nOr read audio from a file with --input FILE.wav.`,
  });
}

/** The recorder to use: the one asked for (if installed) or, for auto, the first installed. */
export function chooseRecorder(choice: RecorderChoice, env: NodeJS.ProcessEnv = process.env): Recorder {
  if (choice !== 'auto') {
    if (!findOnPath(choice, env)) throw missingRecorder(choice);
    return choice;
  }
  const order: Recorder[] = process.platform === 'linux' ? ['rec', 'arecord', 'sox'] : ['rec', 'sox'];
  const found = order.find((r) => findOnPath(r, env) !== undefined);
  if (!found) {
    throw new UserError('cannot record from the microphone: neither SoX (`rec`) nor ALSA (`arecord`) is installed', {
      exitCode: ExitCode.dependency,
      hint: `${INSTALL_HINTS.rec}\nOn Linux \`sudo apt install alsa-utils\` (arecord) works too.\nOr read audio from a file with --input FILE.wav.`,
    });
  }
  return found;
}

const SOX_DRIVERS = ['alsa', 'pulseaudio', 'coreaudio', 'waveaudio', 'oss', 'sndio', 'ao'];

/**
 * SoX needs a driver as well as a device name. `--device pulseaudio:NAME` (any SoX driver
 * prefix) says both; otherwise ALSA-looking names (hw:1,0, plughw:..., default) go to
 * alsa and other names to the platform's usual driver (PulseAudio on Linux). An
 * AUDIODRIVER already in the environment wins.
 */
export function soxDevice(spec: string, platform: NodeJS.Platform = process.platform, env: NodeJS.ProcessEnv = process.env): { driver?: string; device: string } {
  const m = /^([a-z]+):(.+)$/.exec(spec);
  if (m && SOX_DRIVERS.includes(m[1] as string)) return { driver: m[1], device: m[2] as string };
  if (env.AUDIODRIVER) return { device: spec };
  if (/^(plug)?hw:|^(default|sysdefault|dmix|dsnoop)(:|$)/.test(spec)) return { driver: 'alsa', device: spec };
  const byPlatform: Partial<Record<NodeJS.Platform, string>> = { linux: 'pulseaudio', darwin: 'coreaudio', win32: 'waveaudio' };
  return { driver: byPlatform[platform], device: spec };
}

/** A promise that resolves when stop() is called, to race against waits. */
function stopLatch(): { promise: Promise<void>; fire: () => void } {
  let fire: () => void = () => undefined;
  const promise = new Promise<void>((resolve) => {
    fire = resolve;
  });
  return { promise, fire };
}

async function openMicrophone(opts: AudioSourceOptions, stopped: () => boolean): Promise<RawSource> {
  const recorder = chooseRecorder(opts.recorder ?? 'auto');
  // `rec` ignores the library's device option and `sox` only gets AUDIODEV, so set the
  // SoX environment ourselves for both; spawn() copies process.env synchronously inside
  // record(), so the change is undone right after.
  const saved = { AUDIODEV: process.env.AUDIODEV, AUDIODRIVER: process.env.AUDIODRIVER };
  if (opts.device && recorder !== 'arecord') {
    const { driver, device } = soxDevice(opts.device);
    process.env.AUDIODEV = device;
    if (driver) process.env.AUDIODRIVER = driver;
  }
  let recording;
  try {
    recording = record({ sampleRate: SAMPLE_RATE, channels: 1, recorder, device: opts.device ?? null, audioType: 'raw' });
  } finally {
    for (const [k, v] of Object.entries(saved)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  }
  const child = recording.process;
  const stream = recording.stream();
  // Read the recorder's output through our own PassThrough, piped at once:
  // - node-record-lpcm16 attaches a 'data' listener (for its debug log), which puts the
  //   stream in flowing mode, so audio arriving before our loop starts reading would be
  //   dropped; the pipe buffers it instead.
  // - the library emits 'error' on that stream when the recorder exits non-zero, possibly
  //   while audio is still buffered; iterating the stream itself would then throw and drop
  //   it (measured: a recorder that wrote 40000 samples and failed gave 0 clips in 1 of 4
  //   runs). A pipe does not forward the error: the PassThrough ends only after all data.
  const audio = new PassThrough();
  stream.pipe(audio);
  let stderr = '';
  child.stderr?.on('data', (d: Buffer | string) => {
    stderr = (stderr + d.toString()).slice(-2000);
  });
  let spawnError: NodeJS.ErrnoException | undefined;
  child.on('error', (err: NodeJS.ErrnoException) => {
    spawnError = err;
  });
  // The library emits 'error' on the stream when the recorder exits non-zero, which
  // includes our own stop(); without a listener Node would crash.
  stream.on('error', () => undefined);
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.on('close', (code, signal) => resolve({ code, signal }));
  });
  const device = opts.device ?? (recorder === 'arecord' ? 'default' : process.env.AUDIODEV ?? 'default');
  // A recorder that starts but delivers nothing (a suspended or muted source) would
  // otherwise look like a silent room forever.
  const silentTimer = setTimeout(() => {
    if (!stopped()) process.stderr.write(`kws: warning: no audio from the microphone (${recorder}) after 5 s; check the device and that nothing else holds it.\n`);
  }, 5000);
  silentTimer.unref();
  // Cleared from inside pieces(), not by a 'data' listener: a listener would switch the
  // stream to flowing mode and drop whatever arrives before the consumer starts reading.
  child.once('close', () => clearTimeout(silentTimer));
  async function* pieces(): AsyncGenerator<Int16Array> {
    let carry: Buffer = Buffer.alloc(0);
    try {
      for await (const data of audio as AsyncIterable<Buffer>) {
        clearTimeout(silentTimer);
        const all = carry.length ? Buffer.concat([carry, data]) : data;
        const whole = all.length - (all.length % 2);
        carry = Buffer.from(all.subarray(whole));
        if (whole) yield bytesToInt16(all.subarray(0, whole));
      }
    } catch {
      // The stream errors when the recorder exits non-zero; judged below by exit status.
    }
    const { code, signal } = await exited;
    if (spawnError?.code === 'ENOENT') throw missingRecorder(recorder);
    if (spawnError) throw new UserError(`cannot start \`${recorder}\`: ${spawnError.message}`, { exitCode: ExitCode.dependency });
    if (stopped() || code === 0) return;
    // Ctrl+C in a terminal reaches the recorder too, sometimes before our own handler
    // runs; give the handler a moment before calling the exit a failure.
    await new Promise((r) => setTimeout(r, 300));
    if (stopped()) return;
    const why = signal ? `was killed by ${signal}` : `exited with code ${code}`;
    throw new UserError(`the microphone recorder \`${recorder}\` ${why}${stderr.trim() ? `:\n${stderr.trim()}` : ''}`, {
      exitCode: ExitCode.dependency,
      hint: `${opts.device ? `Check the device name (--device ${opts.device}). ` : 'Check that a microphone is connected and not in use, or pick one with --device NAME. '}Try another --recorder (rec, arecord, sox), or run \`kws doctor\`.`,
    });
  }
  return {
    description: `microphone (${recorder}, device ${device})`,
    pieces: pieces(),
    close: () => {
      try {
        recording.stop();
      } catch {
        // already gone
      }
    },
    pace: 'fast',
  };
}

/** Little-endian int16 bytes to samples (copies, so odd buffer offsets are fine). */
export function bytesToInt16(buf: Buffer): Int16Array {
  const out = new Int16Array(buf.length >> 1);
  for (let i = 0; i < out.length; i++) out[i] = buf.readInt16LE(2 * i);
  return out;
}

/** Turns decoded float channels at any rate into 16 kHz mono int16. */
class ToMono16k {
  private readonly resampler: Resampler | undefined;
  constructor(fromRate: number) {
    this.resampler = fromRate === SAMPLE_RATE ? undefined : new Resampler(fromRate, SAMPLE_RATE);
  }
  push(channels: Float32Array[]): Int16Array {
    const mono = mixToMono(channels);
    return floatToInt16(this.resampler ? this.resampler.process(mono) : mono);
  }
  end(): Int16Array {
    return floatToInt16(this.resampler ? this.resampler.flush() : new Float32Array(0));
  }
}

function describeFormat(rate: number, channels: number, bitDepth: number, fmt: SampleFormat): string {
  const conv = rate === SAMPLE_RATE && channels === 1 && bitDepth === 16 && fmt === 'int' ? '' : ' -> 16000 Hz mono';
  return `${rate} Hz, ${channels} ch, ${bitDepth}-bit ${fmt}${conv}`;
}

/** Names of our own standard input (`--input /dev/stdin`). */
const STDIN_NAMES = new Set(['/dev/stdin', '/dev/fd/0', '/proc/self/fd/0']);

async function openWavFile(file: string, opts: AudioSourceOptions, stopped: () => boolean): Promise<RawSource> {
  if (STDIN_NAMES.has(file) && opts.stdin === undefined) {
    // Stdin that is a socket (how Node, and some supervisors, connect a child's stdin)
    // cannot be opened by name (ENXIO); read the stream we already have instead. A file
    // redirected to stdin (`< a.wav`) is opened by name below, so it keeps its size.
    let regular = false;
    try {
      regular = fs.fstatSync(0).isFile();
    } catch {
      // no usable fd 0: read process.stdin below
    }
    if (!regular) return openWavStream(file, process.stdin, opts, stopped);
  }
  let fd: number;
  let st: fs.Stats;
  try {
    // For a FIFO this waits for a writer, as `cat FIFO` does.
    fd = fs.openSync(file, 'r');
    st = fs.fstatSync(fd);
    if (st.isDirectory()) {
      fs.closeSync(fd);
      throw Object.assign(new Error('is a directory'), { code: 'EISDIR' });
    }
  } catch (err) {
    throw fileReadError(file, err);
  }
  // A pipe, FIFO, <(...) or /dev/stdin has no size and cannot seek: read it as a stream.
  if (!st.isFile()) return openWavStream(file, streamFromFd(file, fd, st), opts, stopped);
  const size = st.size;
  let layout;
  try {
    layout = parseWavLayoutFd(fd, size, file);
  } catch (err) {
    fs.closeSync(fd);
    throw err;
  }
  const lay = layout;
  let closed = false;
  const closeFd = (): void => {
    if (!closed) {
      closed = true;
      fs.closeSync(fd);
    }
  };
  async function* pieces(): AsyncGenerator<Int16Array> {
    const conv = new ToMono16k(lay.sampleRate);
    // About a quarter second per read, in whole frames.
    const block = Math.max(1, Math.floor((lay.sampleRate / 4) * 1)) * lay.blockAlign;
    const buf = Buffer.alloc(block);
    try {
      let done = 0;
      while (done < lay.dataBytes && !stopped()) {
        const want = Math.min(block, lay.dataBytes - done);
        const got = await new Promise<number>((resolve, reject) =>
          fs.read(fd, buf, 0, want, lay.dataOffset + done, (err, n) => (err ? reject(fileReadError(file, err)) : resolve(n))),
        );
        if (got <= 0) break;
        done += got;
        const out = conv.push(decodeSamples(buf.subarray(0, got - (got % lay.blockAlign)), lay));
        if (out.length) yield out;
      }
      if (!stopped()) {
        const tail = conv.end();
        if (tail.length) yield tail;
      }
    } finally {
      closeFd();
    }
  }
  return {
    description: `file ${file} (${describeFormat(lay.sampleRate, lay.channels, lay.bitDepth, lay.sampleFormat)}${lay.truncated ? ', cut off: reading what is there' : ''})`,
    pieces: pieces(),
    close: () => undefined,
    pace: opts.pace ?? 'fast',
  };
}

/**
 * A readable stream over an fd that cannot seek. Pipes and sockets go through net.Socket
 * (libuv makes the fd non-blocking), so stop() can end a read that would otherwise wait
 * forever on a silent writer; character devices fall back to a plain file stream.
 */
function streamFromFd(file: string, fd: number, st: fs.Stats): Readable {
  if (st.isFIFO() || st.isSocket()) {
    try {
      return new net.Socket({ fd, readable: true, writable: false });
    } catch {
      // Not a handle libuv can poll: read it like a file below.
    }
  }
  return fs.createReadStream(file, { fd });
}

/** The most header we read from a stream looking for "fmt " and "data" (big LIST/bext chunks fit). */
const STREAM_HEADER_LIMIT = 1 << 20;

/**
 * A WAV arriving on a pipe: read until the header parses, then stream the samples, up to
 * the size the header declares (or to the end, when a streaming writer left it unset).
 */
export async function openWavStream(file: string, input: Readable, opts: AudioSourceOptions, stopped: () => boolean): Promise<RawSource> {
  const it = (input as AsyncIterable<Buffer | string>)[Symbol.asyncIterator]();
  const toBuf = (d: Buffer | string): Buffer => (typeof d === 'string' ? Buffer.from(d, 'binary') : d);
  let head: Buffer = Buffer.alloc(0);
  let layout: WavLayout | undefined;
  let ended = false;
  try {
    for (;;) {
      let parseError: unknown;
      try {
        layout = parseWavLayout((o, n) => head.subarray(o, o + n), head.length, file);
      } catch (err) {
        if (!isUserError(err)) throw err;
        parseError = err;
      }
      if (layout) break;
      if (ended && head.length === 0) throw inputError(`${file}: the pipe delivered no data (0 bytes), not a WAV file`);
      if (ended || head.length >= STREAM_HEADER_LIMIT) throw parseError;
      const next = await it.next();
      if (next.done) ended = true;
      else head = Buffer.concat([head, toBuf(next.value)]);
    }
  } catch (err) {
    input.destroy();
    throw isUserError(err) ? err : fileReadError(file, err);
  }
  const lay = layout;
  const rest = head.subarray(lay.dataOffset);
  async function* pieces(): AsyncGenerator<Int16Array> {
    const conv = new ToMono16k(lay.sampleRate);
    let left = lay.declaredDataBytes ?? Infinity;
    let carry: Buffer = Buffer.alloc(0);
    const take = function* (data: Buffer): Generator<Int16Array> {
      const mine = data.length > left ? data.subarray(0, left) : data;
      left -= mine.length;
      const all = carry.length ? Buffer.concat([carry, mine]) : mine;
      const whole = all.length - (all.length % lay.blockAlign);
      carry = Buffer.from(all.subarray(whole));
      if (whole) {
        const out = conv.push(decodeSamples(all.subarray(0, whole), lay));
        if (out.length) yield out;
      }
    };
    try {
      yield* take(rest);
      while (left > 0 && !ended && !stopped()) {
        const next = await it.next();
        if (next.done) break;
        yield* take(toBuf(next.value));
      }
    } catch (err) {
      if (!stopped()) throw fileReadError(file, err);
    } finally {
      input.destroy();
    }
    if (!stopped()) {
      const tail = conv.end();
      if (tail.length) yield tail;
    }
  }
  return {
    description: `pipe ${file} (${describeFormat(lay.sampleRate, lay.channels, lay.bitDepth, lay.sampleFormat)})`,
    pieces: pieces(),
    close: () => {
      input.destroy();
    },
    pace: opts.pace ?? 'fast',
  };
}

const RAW_INFO: Record<RawFormat, { bytes: number; bitDepth: number; fmt: SampleFormat }> = {
  u8: { bytes: 1, bitDepth: 8, fmt: 'int' },
  s8: { bytes: 1, bitDepth: 8, fmt: 'int' },
  s16le: { bytes: 2, bitDepth: 16, fmt: 'int' },
  s16be: { bytes: 2, bitDepth: 16, fmt: 'int' },
  s24le: { bytes: 3, bitDepth: 24, fmt: 'int' },
  s32le: { bytes: 4, bitDepth: 32, fmt: 'int' },
  f32le: { bytes: 4, bitDepth: 32, fmt: 'float' },
  f64le: { bytes: 8, bitDepth: 64, fmt: 'float' },
};

/** Decode interleaved raw PCM of any RAW_FORMAT to float channels. */
export function decodeRaw(bytes: Buffer, format: RawFormat, channels: number): Float32Array[] {
  const info = RAW_INFO[format];
  if (format === 's8' || format === 's16be') {
    // Formats WAV never uses: convert to their WAV twins first.
    const copy = Buffer.from(bytes);
    if (format === 's8') for (let i = 0; i < copy.length; i++) copy[i] = ((copy[i] as number) + 128) & 0xff;
    else copy.swap16();
    return decodeSamples(copy, { channels, bitDepth: info.bitDepth, sampleFormat: info.fmt });
  }
  return decodeSamples(bytes, { channels, bitDepth: info.bitDepth, sampleFormat: info.fmt });
}

function openStdin(opts: AudioSourceOptions, stopped: () => boolean): RawSource {
  const format = opts.format ?? 's16le';
  const rate = opts.rate ?? SAMPLE_RATE;
  const channels = opts.channels ?? 1;
  if (!RAW_FORMATS.includes(format)) throw usageError(`unknown --format ${String(format)}`, `Use one of: ${RAW_FORMATS.join(', ')}.`);
  if (!Number.isInteger(rate) || rate < 1000 || rate > 384000) throw usageError(`--rate must be a whole number of Hz between 1000 and 384000, got ${rate}`);
  if (!Number.isInteger(channels) || channels < 1 || channels > 64) throw usageError(`--channels must be between 1 and 64, got ${channels}`);
  const input = opts.stdin ?? process.stdin;
  const frameBytes = RAW_INFO[format].bytes * channels;
  const direct = format === 's16le' && channels === 1 && rate === SAMPLE_RATE;
  async function* pieces(): AsyncGenerator<Int16Array> {
    const conv = new ToMono16k(rate);
    let carry: Buffer = Buffer.alloc(0);
    let first = true;
    try {
      for await (const data of input as AsyncIterable<Buffer | string>) {
        if (stopped()) break;
        const buf = typeof data === 'string' ? Buffer.from(data, 'binary') : data;
        if (first && buf.length >= 4) {
          first = false;
          if (buf.toString('latin1', 0, 4) === 'RIFF') {
            process.stderr.write('kws: warning: stdin starts with "RIFF": that looks like a WAV file, but --input - reads raw PCM; to pipe a WAV file in, use --input /dev/stdin\n');
          }
        }
        const all = carry.length ? Buffer.concat([carry, buf]) : buf;
        const whole = all.length - (all.length % frameBytes);
        carry = Buffer.from(all.subarray(whole));
        if (!whole) continue;
        const out = direct ? bytesToInt16(all.subarray(0, whole)) : conv.push(decodeRaw(all.subarray(0, whole), format, channels));
        if (out.length) yield out;
      }
    } catch (err) {
      if (!stopped()) throw err;
    }
    if (!stopped() && !direct) {
      const tail = conv.end();
      if (tail.length) yield tail;
    }
  }
  return {
    description: `stdin (raw ${format}, ${rate} Hz, ${channels} ch${direct ? '' : ' -> 16000 Hz mono'})`,
    pieces: pieces(),
    close: () => {
      input.destroy();
    },
    pace: opts.pace ?? 'fast',
  };
}

/** Open an audio source; see AudioSourceOptions for the choices. */
export async function openAudioSource(opts: AudioSourceOptions = {}): Promise<AudioSource> {
  const chunkSamples = opts.chunkSamples ?? DEFAULT_CHUNK;
  if (!Number.isInteger(chunkSamples) || chunkSamples < 1) throw usageError(`chunk size must be a positive whole number of samples, got ${chunkSamples}`);
  let isStopped = false;
  const stopped = (): boolean => isStopped;
  const latch = stopLatch();
  let raw: RawSource;
  if (opts.input === undefined) raw = await openMicrophone(opts, stopped);
  else if (opts.input === '-') raw = openStdin(opts, stopped);
  else raw = await openWavFile(opts.input, opts, stopped);

  async function* chunks(): AsyncGenerator<Int16Array> {
    const start = Date.now();
    let emitted = 0;
    let pending = new Int16Array(chunkSamples);
    let fill = 0;
    const iterator = raw.pieces[Symbol.asyncIterator]();
    const emit = async (chunk: Int16Array): Promise<boolean> => {
      emitted += chunk.length;
      if (raw.pace === 'realtime') {
        // A microphone delivers a chunk once its last sample has been heard.
        const due = start + (emitted * 1000) / SAMPLE_RATE - Date.now();
        if (due > 0) await Promise.race([new Promise((r) => setTimeout(r, due)), latch.promise]);
      }
      return !isStopped;
    };
    // A failing source (the recorder killed) still hands over the audio it delivered,
    // including the short last chunk, before its error is raised.
    let failure: { error: unknown } | undefined;
    try {
      while (!isStopped) {
        // Race the stop latch: a read from a pipe that stays open would otherwise never return.
        let next: IteratorResult<Int16Array> | undefined;
        try {
          next = await Promise.race([iterator.next(), latch.promise.then(() => undefined)]);
        } catch (error) {
          failure = { error };
          break;
        }
        if (next === undefined || next.done) break;
        const piece = next.value;
        let off = 0;
        while (off < piece.length) {
          const take = Math.min(chunkSamples - fill, piece.length - off);
          pending.set(piece.subarray(off, off + take), fill);
          fill += take;
          off += take;
          if (fill === chunkSamples) {
            const chunk = pending;
            pending = new Int16Array(chunkSamples);
            fill = 0;
            if (!(await emit(chunk))) return;
            yield chunk;
          }
        }
      }
      // What is left when the source ends (or is stopped) was heard: a short last chunk.
      if (fill > 0) {
        const last = pending.slice(0, fill);
        await emit(last);
        yield last;
      }
      if (failure) throw failure.error;
    } finally {
      raw.close();
      // Not awaited: if a read is still pending, return() runs once it settles.
      iterator.return?.(undefined).catch(() => undefined);
    }
  }

  const gen = chunks();
  return {
    description: raw.description,
    sampleRate: SAMPLE_RATE,
    chunkSamples,
    get stopped() {
      return isStopped;
    },
    stop() {
      if (isStopped) return;
      isStopped = true;
      latch.fire();
      raw.close();
    },
    [Symbol.asyncIterator]: () => gen,
  };
}

/**
 * The chunks of a source, where a failure of the source (the recorder killed, a read
 * error) ends the iteration instead of throwing. Recording commands then save the clip
 * in progress and print their summary like after Ctrl+C, and report `failure()` last.
 */
export function readUntilFailure(source: AsyncIterable<Int16Array>): { chunks: AsyncIterable<Int16Array>; failure(): unknown } {
  let failure: unknown;
  async function* chunks(): AsyncGenerator<Int16Array> {
    const it = source[Symbol.asyncIterator]();
    for (;;) {
      let next: IteratorResult<Int16Array>;
      try {
        next = await it.next();
      } catch (e) {
        failure = e;
        return;
      }
      if (next.done) return;
      yield next.value;
    }
  }
  return { chunks: chunks(), failure: () => failure };
}
