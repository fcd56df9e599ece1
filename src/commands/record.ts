/**
 * `kws record LABEL`: record examples of one sound into predata/LABEL/, one WAV per
 * sound, split on silence. `--fixed [N]` switches to fixed-length clips (kws fixed).
 */
import { Option, type Command } from 'commander';
import { usageError } from '../util/errors';
import { addSourceOptions, checkLabel, intArg, isMicrophone, numberArg, sourceOptionsFrom, stopOnSignals, type SourceFlags } from './audio-options';
import { runFixed, type FixedFlags } from './fixed';

interface RecordFlags extends SourceFlags {
  dir: string;
  threshold?: number;
  quietChunks: number;
  preRoll: number;
  postRoll: number;
  minSound: number;
  maxLength: number;
  maxClips?: number;
  seconds?: number;
  json?: boolean;
  fixed?: string | boolean;
  onset?: boolean;
  countdown?: number;
}

export function define(program: Command): void {
  const cmd = program
    .command('record')
    .description('record examples of a sound into predata/LABEL/, one WAV per sound, split on silence')
    .argument('<label>', 'name of the sound or word; clips go to DIR/LABEL/ (created if missing)', checkLabel)
    .addOption(new Option('--dir <folder>', 'recordings folder').default('predata'))
    .addOption(new Option('-t, --threshold <rms>', 'silence threshold on the integer-RMS scale of `kws rms` (default: silenceThreshold in ./kws.json, else 30)').argParser(numberArg('--threshold', 0)))
    .addOption(new Option('--quiet-chunks <n>', 'a clip ends after this many consecutive quiet 1024-sample chunks').argParser(intArg('--quiet-chunks', 1)).default(7))
    .addOption(new Option('--pre-roll <chunks>', 'quiet chunks kept before the sound starts, so onsets are not clipped').argParser(intArg('--pre-roll', 0, 100)).default(2))
    .addOption(new Option('--post-roll <chunks>', 'quiet chunks kept after the sound ends').argParser(intArg('--post-roll', 0, 100)).default(2))
    .addOption(new Option('--min-sound <seconds>', 'drop clips whose sound (first to last loud chunk) is shorter; 0 keeps everything').argParser(numberArg('--min-sound', 0)).default(0))
    .addOption(new Option('--max-length <seconds>', 'cut a clip that reaches this length').argParser(numberArg('--max-length', 0.1)).default(10))
    .addOption(new Option('--max-clips <n>', 'stop after saving this many clips (default: no limit)').argParser(intArg('--max-clips', 1)))
    .addOption(new Option('--seconds <s>', 'stop after this much audio (default: until Ctrl+C or the end of the input)').argParser(numberArg('--seconds', 0)))
    .addOption(new Option('--fixed [samples]', 'fixed-length clips instead (as `kws fixed`); samples default: the longest clip in --dir'))
    .addOption(new Option('--onset', 'with --fixed: start each clip at a sound instead of back-to-back'))
    .addOption(new Option('--countdown <seconds>', 'with --fixed, microphone only: count down before the first clip').argParser(intArg('--countdown', 0, 60)).default(3))
    .option('--json', 'print one JSON object per saved clip on stdout');
  addSourceOptions(cmd);
  cmd.addHelpText(
    'after',
    `
Each clip is written as soon as it ends (16 kHz mono 16-bit WAV, atomic, never over an
existing file) and printed with its duration and peak. Ctrl+C or SIGTERM saves the clip
in progress and exits 0. Tune the threshold with \`kws rms\` (or \`kws rms --save\`).

Examples:
  $ kws record yes                      # speak "yes" a few times, pause between, Ctrl+C
  $ kws record clap --threshold 60      # a noisier room
  $ kws record yes --input session.wav  # split an existing recording
  $ kws record yes --fixed 16000        # same as: kws fixed yes 16000`,
  );
  cmd.action(async (label: string, flags: RecordFlags) => {
    if (flags.fixed !== undefined) {
      const fixedFlags: FixedFlags = { ...flags, onset: flags.onset, countdown: flags.countdown ?? 3 };
      await runFixed(label, flags.fixed === true ? undefined : parseSamples(String(flags.fixed)), fixedFlags);
      return;
    }
    if (flags.onset) throw usageError('--onset only applies with --fixed (or `kws fixed --onset`)');
    await runRecord(label, flags);
  });
}

function parseSamples(value: string): number {
  const n = Number(value);
  if (!/^\d+$/.test(value) || !Number.isSafeInteger(n) || n < 1) throw usageError(`--fixed takes a whole number of samples (16000 = 1 s), got "${value}"`);
  return n;
}

async function runRecord(label: string, flags: RecordFlags): Promise<void> {
  const path = await import('node:path');
  const { resolveSilenceThreshold } = await import('../util/config.js');
  const { openAudioSource, SAMPLE_RATE } = await import('../audio/source.js');
  const { SilenceSegmenter } = await import('../audio/segmenter.js');
  const { ClipWriter, relativeToCwd } = await import('../audio/clipwriter.js');
  const { formatDbfs, rmsInt } = await import('../audio/level.js');

  const threshold = await resolveSilenceThreshold(flags.threshold);
  const chunk = 1024;
  const writer = new ClipWriter(path.join(flags.dir, label), SAMPLE_RATE);
  await writer.prepare();
  const source = await openAudioSource({ ...sourceOptionsFrom(flags), chunkSamples: chunk });
  const seg = new SilenceSegmenter({
    threshold: threshold.value,
    quietChunks: flags.quietChunks,
    preRollChunks: flags.preRoll,
    postRollChunks: flags.postRoll,
    minSoundSamples: Math.round(flags.minSound * SAMPLE_RATE),
    maxSamples: Math.max(chunk, Math.round(flags.maxLength * SAMPLE_RATE)),
  });
  const tty = Boolean(process.stderr.isTTY);
  const err = process.stderr;
  const dirShown = relativeToCwd(writer.dir);
  err.write(`Recording "${label}" from ${source.description} into ${dirShown}/\n`);
  err.write(`Silence threshold ${threshold.value} (${threshold.source === 'default' ? 'default' : `from ${threshold.source}`}); a clip ends after ${flags.quietChunks} quiet chunks.\n`);
  if (isMicrophone(flags)) err.write('Make each sound, pause between them; Ctrl+C to stop.\n');
  const disposeSignals = stopOnSignals(() => source.stop(), 'saving the clip in progress');
  let dropped = 0;
  let position = 0;
  const limit = flags.seconds === undefined ? Infinity : Math.round(flags.seconds * SAMPLE_RATE);
  let statusShown = false;

  const report = async (result: { clips: { samples: Int16Array; start: number; reason: string }[]; dropped: unknown[] }): Promise<void> => {
    dropped += result.dropped.length;
    for (const clip of result.clips) {
      const saved = await writer.save(clip.samples);
      if (statusShown) {
        err.write('\r\x1b[2K');
        statusShown = false;
      }
      if (flags.json) {
        process.stdout.write(
          `${JSON.stringify({ file: saved.file, label, samples: saved.samples, seconds: saved.seconds, peak: saved.peak, peakDbfs: Number.isFinite(saved.peakDbfs) ? Number(saved.peakDbfs.toFixed(2)) : null, startSeconds: clip.start / SAMPLE_RATE, reason: clip.reason })}\n`,
        );
      } else {
        const note = clip.reason === 'max-length' ? `  (cut at --max-length ${flags.maxLength} s)` : clip.reason === 'end-of-input' ? '  (ended by stop/end of input)' : '';
        process.stdout.write(`saved ${relativeToCwd(saved.file)}  ${saved.seconds.toFixed(3)} s  peak ${formatDbfs(saved.peakDbfs)} dBFS${note}\n`);
      }
      if (flags.maxClips !== undefined && writer.saved.length >= flags.maxClips) source.stop();
    }
  };

  try {
    for await (const c of source) {
      const take = position + c.length > limit ? c.subarray(0, Math.max(0, limit - position)) : c;
      position += take.length;
      await report(seg.push(take));
      if (tty && !source.stopped) {
        const state = seg.recording ? `● recording ${(seg.currentSamples / SAMPLE_RATE).toFixed(1)} s` : '  listening';
        err.write(`\r\x1b[2K${state}   level ${rmsInt(take)} / threshold ${threshold.value}   saved ${writer.saved.length}`);
        statusShown = true;
      }
      if (position >= limit) source.stop();
      if (source.stopped) break;
    }
    await report(seg.flush());
  } finally {
    disposeSignals();
    source.stop();
  }
  if (statusShown) err.write('\r\x1b[2K');
  const n = writer.saved.length;
  err.write(`${n} clip${n === 1 ? '' : 's'} saved in ${dirShown}/${dropped ? ` (${dropped} dropped: sound shorter than --min-sound ${flags.minSound} s)` : ''}\n`);
  if (n === 0) {
    err.write(`No sound rose above the threshold ${threshold.value}. Check the level with \`kws rms\` and lower --threshold if needed.\n`);
  }
}
