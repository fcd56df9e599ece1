/**
 * `kws record LABEL`: record examples of one sound into predata/LABEL/, one WAV per
 * sound, split on silence. `--fixed [N]` switches to fixed-length clips (kws fixed).
 */
import { Option, type Command } from 'commander';
import { usageError } from '../util/errors';
import { intArg, numberArg } from './args';
import { addSourceOptions, checkLabel, checkSourceFlags, isMicrophone, optionGiven, rejectInapplicable, openStoppable, sourceOptionsFrom, type SourceFlags } from './audio-options';
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
existing file) and printed with its duration and peak. The folder must be writable before
recording starts. Ctrl+C or SIGTERM saves the clip in progress and exits 0; if the
recorder dies, the clip in progress is saved too, then its error reported. A flag that
does not apply (--onset without --fixed, --rate with a WAV file, ...) is a usage error.
Tune the threshold with \`kws rms\` (or \`kws rms --save\`).

Examples:
  $ kws record yes                      # speak "yes" a few times, pause between, Ctrl+C
  $ kws record clap --threshold 60      # a noisier room
  $ kws record yes --input session.wav  # split an existing recording
  $ sox in.mp3 -t wav - | kws record yes --input /dev/stdin
  $ kws record yes --fixed 16000        # same as: kws fixed yes 16000`,
  );
  cmd.action(async (label: string, flags: RecordFlags, command: Command) => {
    // Every check on the flags runs before anything is opened or printed.
    checkRecordFlags(command, flags);
    if (flags.fixed !== undefined) {
      const samples = flags.fixed === true ? undefined : parseSamples(String(flags.fixed));
      const fixedFlags: FixedFlags = { ...flags, onset: flags.onset, countdown: flags.countdown ?? 3 };
      await runFixed(label, samples, fixedFlags);
      return;
    }
    await runRecord(label, flags);
  });
}

/** Flags that cannot apply with (or without) --fixed are usage errors, not silently ignored. */
function checkRecordFlags(cmd: Command, flags: RecordFlags): void {
  checkSourceFlags(cmd, flags);
  const fixed = flags.fixed !== undefined;
  const onset = Boolean(flags.onset);
  const splitting = 'it belongs to splitting on silence, and --fixed cuts fixed-length clips';
  rejectInapplicable(cmd, [
    { attribute: 'onset', flag: '--onset', applies: fixed, why: 'it only applies with --fixed (or `kws fixed --onset`)' },
    { attribute: 'countdown', flag: '--countdown', applies: fixed && isMicrophone(flags), why: fixed ? 'the countdown is for the microphone only' : 'it only applies with --fixed, from the microphone' },
    { attribute: 'quietChunks', flag: '--quiet-chunks', applies: !fixed, why: splitting },
    { attribute: 'postRoll', flag: '--post-roll', applies: !fixed, why: splitting },
    { attribute: 'minSound', flag: '--min-sound', applies: !fixed, why: splitting },
    { attribute: 'maxLength', flag: '--max-length', applies: !fixed, why: splitting },
    { attribute: 'threshold', flag: '--threshold', applies: !fixed || onset, why: 'with --fixed the threshold only applies with --onset' },
    { attribute: 'preRoll', flag: '--pre-roll', applies: !fixed || onset, why: 'with --fixed the pre-roll only applies with --onset' },
  ]);
  if (!fixed && flags.postRoll > flags.quietChunks) {
    // The post-roll is kept from the quiet run that ends a clip, which is only --quiet-chunks long.
    if (optionGiven(cmd, 'postRoll')) {
      throw usageError(`--post-roll ${flags.postRoll} is longer than --quiet-chunks ${flags.quietChunks}: a clip ends after ${flags.quietChunks} quiet chunk${flags.quietChunks === 1 ? '' : 's'}, so at most that many can be kept`, `Use --post-roll ${flags.quietChunks} or less, or raise --quiet-chunks.`);
    }
    flags.postRoll = flags.quietChunks;
  }
}

function parseSamples(value: string): number {
  const n = Number(value);
  if (!/^\d+$/.test(value) || !Number.isSafeInteger(n) || n < 1) throw usageError(`--fixed takes a whole number of samples (16000 = 1 s), got "${value}"`);
  return n;
}

async function runRecord(label: string, flags: RecordFlags): Promise<void> {
  const path = await import('node:path');
  const { resolveSilenceThreshold } = await import('../util/config.js');
  const { openAudioSource, readUntilFailure, SAMPLE_RATE } = await import('../audio/source.js');
  const { SilenceSegmenter } = await import('../audio/segmenter.js');
  const { ClipWriter, openSourceThenFolder, relativeToCwd, savedClipLine } = await import('../audio/clipwriter.js');
  const { rmsInt } = await import('../audio/level.js');

  const threshold = await resolveSilenceThreshold(flags.threshold);
  const chunk = 1024;
  const writer = new ClipWriter(path.join(flags.dir, label), SAMPLE_RATE);
  const seg = new SilenceSegmenter({
    threshold: threshold.value,
    quietChunks: flags.quietChunks,
    preRollChunks: flags.preRoll,
    postRollChunks: flags.postRoll,
    minSoundSamples: Math.round(flags.minSound * SAMPLE_RATE),
    maxSamples: Math.max(chunk, Math.round(flags.maxLength * SAMPLE_RATE)),
  });
  const { source, disposeSignals } = await openStoppable(
    () => openSourceThenFolder(writer, () => openAudioSource({ ...sourceOptionsFrom(flags), chunkSamples: chunk })),
    () => (seg.recording ? 'saving the clip in progress' : 'stopping (no clip was in progress)'),
  );
  const tty = Boolean(process.stderr.isTTY);
  const err = process.stderr;
  const dirShown = relativeToCwd(writer.dir);
  err.write(`Recording "${label}" from ${source.description} into ${dirShown}/\n`);
  err.write(`Silence threshold ${threshold.value} (${threshold.source === 'default' ? 'default' : `from ${threshold.source}`}); a clip ends after ${flags.quietChunks} quiet chunk${flags.quietChunks === 1 ? '' : 's'}.\n`);
  if (isMicrophone(flags)) err.write('Make each sound, pause between them; Ctrl+C to stop.\n');
  let dropped = 0;
  let position = 0;
  let loudest = 0;
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
      const note = clip.reason === 'max-length' ? `  (cut at --max-length ${flags.maxLength} s)` : clip.reason === 'end-of-input' ? '  (ended by stop/end of input)' : '';
      process.stdout.write(savedClipLine(saved, { label, startSeconds: clip.start / SAMPLE_RATE, json: Boolean(flags.json), reason: clip.reason, note }));
      if (flags.maxClips !== undefined && writer.saved.length >= flags.maxClips) source.stop();
    }
  };

  // A failing source (the recorder killed, a read error) ends the session like Ctrl+C:
  // the clip in progress is saved and the summary printed, then the error is reported.
  // Errors while saving are not caught here: they concern the folder, not the audio.
  const reading = readUntilFailure(source);
  try {
    for await (const c of reading.chunks) {
      const take = position + c.length > limit ? c.subarray(0, Math.max(0, limit - position)) : c;
      position += take.length;
      const level = rmsInt(take);
      loudest = Math.max(loudest, level);
      await report(seg.push(take));
      if (tty && !source.stopped) {
        const state = seg.recording ? `● recording ${(seg.currentSamples / SAMPLE_RATE).toFixed(1)} s` : '  listening';
        err.write(`\r\x1b[2K${state}   level ${level} / threshold ${threshold.value}   saved ${writer.saved.length}`);
        statusShown = true;
      }
      if (position >= limit) source.stop();
      if (source.stopped) break;
    }
    if (statusShown) {
      err.write('\r\x1b[2K');
      statusShown = false;
    }
    await report(seg.flush());
  } catch (e) {
    // A clip could not be saved (disk full, folder removed): say what is safe before the error.
    if (statusShown) err.write('\r\x1b[2K');
    const n = writer.saved.length;
    err.write(`${n} clip${n === 1 ? '' : 's'} saved in ${dirShown}/ before the error\n`);
    throw e;
  } finally {
    disposeSignals();
    source.stop();
  }
  const sourceError = reading.failure();
  const n = writer.saved.length;
  err.write(`${n} clip${n === 1 ? '' : 's'} saved in ${dirShown}/${dropped ? ` (${dropped} dropped: sound shorter than --min-sound ${flags.minSound} s)` : ''}\n`);
  if (n === 0 && sourceError === undefined) {
    if (dropped > 0) {
      err.write(`Every sound was shorter than --min-sound ${flags.minSound} s; lower --min-sound (0 keeps everything) to keep them.\n`);
    } else if (position > 0) {
      err.write(`No sound rose above the threshold ${threshold.value} (the loudest chunk was ${loudest}). Check the level with \`kws rms\` and lower --threshold if needed.\n`);
    } else {
      err.write('No audio was read.\n');
    }
  }
  if (sourceError !== undefined) throw sourceError;
}
