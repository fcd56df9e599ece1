/**
 * The audio-input flags every command that listens shares (rms, record, fixed, stream),
 * so they mean the same thing everywhere. Light module: no audio code is loaded here.
 */
import { InvalidArgumentError, Option, type Command } from 'commander';
import { intArg } from './args';
import { usageError } from '../util/errors';
import { RAW_FORMATS, RECORDERS, type Pace, type RawFormat, type RecorderChoice } from '../audio/choices';
import type { AudioSourceOptions } from '../audio/source';

export interface SourceFlagDefaults {
  /** How a file is delivered when neither --fast nor --realtime is given. */
  pace?: Pace;
}

/** Adds --input, --rate, --format, --channels, --recorder, --device, --fast, --realtime. */
export function addSourceOptions(cmd: Command, defaults: SourceFlagDefaults = {}): Command {
  const pace = defaults.pace ?? 'fast';
  return cmd
    .addOption(new Option('-i, --input <file>', 'read a WAV file (any rate, channels, 8/16/24/32-bit int or float) instead of the microphone; a pipe works too (/dev/stdin, a FIFO, <(...)); "-" reads raw PCM from stdin (default: the microphone)'))
    .addOption(new Option('--rate <hz>', '--input - only: sample rate of the raw PCM').argParser(intArg('--rate', 1000, 384000)).default(16000))
    .addOption(new Option('--format <fmt>', '--input - only: sample format of the raw PCM').choices(RAW_FORMATS).default('s16le'))
    .addOption(new Option('--channels <n>', '--input - only: interleaved channels of the raw PCM (mixed to mono)').argParser(intArg('--channels', 1, 64)).default(1))
    .addOption(new Option('--recorder <name>', 'microphone only: program: rec (SoX), arecord (ALSA), sox; auto tries rec, then arecord, then sox').choices(RECORDERS).default('auto'))
    .addOption(new Option('--device <name>', 'microphone only: device: for arecord -D NAME (hw:1,0, pulse); for rec/sox AUDIODEV=NAME, or DRIVER:NAME such as pulseaudio:NAME (default: the system default)'))
    .addOption(new Option('--realtime', `files/stdin: deliver audio at the pace of a live microphone${pace === 'realtime' ? ' (default)' : ''}`).conflicts('fast'))
    .addOption(new Option('--fast', `files/stdin: read as fast as possible${pace === 'fast' ? ' (default)' : ''}`));
}

/** The option values addSourceOptions defines, as commander hands them over. */
export interface SourceFlags {
  input?: string;
  rate?: number;
  format?: RawFormat;
  channels?: number;
  recorder?: RecorderChoice;
  device?: string;
  realtime?: boolean;
  fast?: boolean;
}

export function sourceOptionsFrom(flags: SourceFlags, defaults: SourceFlagDefaults = {}): AudioSourceOptions {
  const pace: Pace = flags.realtime ? 'realtime' : flags.fast ? 'fast' : (defaults.pace ?? 'fast');
  return {
    input: flags.input,
    rate: flags.rate,
    format: flags.format,
    channels: flags.channels,
    recorder: flags.recorder,
    device: flags.device,
    pace,
  };
}

/** True when audio comes from the microphone (no --input). */
export function isMicrophone(flags: SourceFlags): boolean {
  return flags.input === undefined;
}

/** True when the user set the option (command line or environment), not just its default. */
export function optionGiven(cmd: Command, attribute: string): boolean {
  const source = cmd.getOptionValueSource(attribute);
  return source !== undefined && source !== 'default' && source !== 'implied';
}

/**
 * The one rule for flags that cannot apply to this run (e.g. --rate with a WAV file):
 * a usage error (exit 2) before anything is opened or printed, so a flag is never
 * silently ignored and a typo'd intent never costs a recording session.
 */
export function rejectInapplicable(cmd: Command, rules: { attribute: string; flag: string; applies: boolean; why: string }[]): void {
  for (const r of rules) {
    if (!r.applies && optionGiven(cmd, r.attribute)) throw usageError(`${r.flag} does not apply here: ${r.why}`);
  }
}

/** The source flags that cannot apply to the chosen source (see addSourceOptions). */
export function checkSourceFlags(cmd: Command, flags: SourceFlags): void {
  const raw = flags.input === '-';
  const mic = flags.input === undefined;
  const rawWhy = mic ? 'it describes raw PCM on stdin (--input -); the microphone is recorded at 16000 Hz, s16le, mono' : 'it describes raw PCM on stdin (--input -); a WAV file says its own rate, format and channels';
  rejectInapplicable(cmd, [
    { attribute: 'rate', flag: '--rate', applies: raw, why: rawWhy },
    { attribute: 'format', flag: '--format', applies: raw, why: rawWhy },
    { attribute: 'channels', flag: '--channels', applies: raw, why: rawWhy },
    { attribute: 'recorder', flag: '--recorder', applies: mic, why: 'it chooses the microphone program, and --input reads a file or stdin instead' },
    { attribute: 'device', flag: '--device', applies: mic, why: 'it chooses the microphone, and --input reads a file or stdin instead' },
    { attribute: 'realtime', flag: '--realtime', applies: !mic, why: 'it paces a file or stdin (--input); the microphone is always live' },
    { attribute: 'fast', flag: '--fast', applies: !mic, why: 'it paces a file or stdin (--input); the microphone is always live' },
  ]);
}

/**
 * First Ctrl+C or SIGTERM: call `stop` (the command then finishes what it is doing and
 * exits 0). A second Ctrl+C quits at once with 130. `message` may be a function, so the
 * line says what is actually happening at that moment. Returns a function that removes
 * the handlers. Install them before the line that says the command runs: whoever reads it
 * may signal at once, and a signal with no handler yet kills the process uncleanly.
 */
export function stopOnSignals(stop: (signal: NodeJS.Signals) => void, message: string | (() => string) = 'stopping (Ctrl+C again to quit at once)'): () => void {
  let count = 0;
  const handler = (signal: NodeJS.Signals): void => {
    count++;
    if (count > 1) {
      process.stderr.write('\nkws: quitting without finishing\n');
      process.exit(130);
    }
    process.stderr.write(`\nkws: ${signal === 'SIGINT' ? 'Ctrl+C' : signal}: ${typeof message === 'function' ? message() : message}\n`);
    stop(signal);
  };
  process.on('SIGINT', handler);
  process.on('SIGTERM', handler);
  return () => {
    process.off('SIGINT', handler);
    process.off('SIGTERM', handler);
  };
}

/**
 * Open an audio source with the stop handlers of stopOnSignals already installed. A microphone
 * source is a recorder child process (arecord, parec, sox): with the handlers installed after it
 * started, a signal in between (a script that sees the recorder in ps, a quick Ctrl+C while
 * kws waits for a server) would end kws by Node's default action and orphan the recorder. A
 * signal that arrives while the source is still opening stops it as soon as it is open, so the
 * command then ends as after any first Ctrl+C. Returns the source and the handlers' remover.
 */
export async function openStoppable<S extends { stop(): void }>(
  open: () => Promise<S>,
  message?: string | (() => string),
): Promise<{ source: S; disposeSignals: () => void }> {
  let source: S | null = null;
  let stopEarly = false;
  const disposeSignals = stopOnSignals(() => {
    if (source) source.stop();
    else stopEarly = true;
  }, message);
  try {
    source = await open();
  } catch (err) {
    disposeSignals();
    throw err;
  }
  if (stopEarly) source.stop();
  return { source, disposeSignals };
}

/** A label becomes a folder name: refuse anything that would escape or hide it. */
export function checkLabel(label: string): string {
  const bad =
    label.length === 0 ||
    label === '.' ||
    label === '..' ||
    label.startsWith('.') ||
    /[/\\\0]/.test(label) ||
    // Windows-reserved characters, so a dataset can be copied anywhere.
    /[<>:"|?*]/.test(label);
  if (bad) {
    throw new InvalidArgumentError(`"${label}" cannot be a label: use letters, digits, - or _ (it becomes the folder predata/LABEL), e.g. "yes" or "door_knock".`);
  }
  return label;
}
