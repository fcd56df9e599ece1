/**
 * `kws fixed LABEL [SAMPLES]`: back-to-back clips of exactly SAMPLES samples (default:
 * the longest clip already recorded), or with --onset one clip per sound.
 */
import { Option, type Command } from 'commander';
import { inputError } from '../util/errors';
import { intArg, numberArg } from './args';
import { addSourceOptions, checkLabel, checkSourceFlags, isMicrophone, rejectInapplicable, openStoppable, sourceOptionsFrom, type SourceFlags } from './audio-options';

export interface FixedFlags extends SourceFlags {
  dir: string;
  threshold?: number;
  preRoll: number;
  onset?: boolean;
  countdown: number;
  maxClips?: number;
  seconds?: number;
  json?: boolean;
}

export function define(program: Command): void {
  const cmd = program
    .command('fixed')
    .description('record back-to-back clips of exactly N samples into predata/LABEL/ (or one per sound with --onset)')
    .argument('<label>', 'name of the sound or word; clips go to DIR/LABEL/ (created if missing)', checkLabel)
    .argument('[samples]', 'clip length in samples at 16 kHz (16000 = 1 s); default: the longest clip under --dir (`kws maxlen`)', intArg('samples', 1, 16000 * 600))
    .addOption(new Option('--dir <folder>', 'recordings folder').default('predata'))
    .addOption(new Option('--onset', 'start each clip at a sound (a chunk above the threshold) instead of back-to-back'))
    .addOption(new Option('-t, --threshold <rms>', 'with --onset: loudness that starts a clip, integer-RMS scale (default: ./kws.json, else 30)').argParser(numberArg('--threshold', 0)))
    .addOption(new Option('--pre-roll <chunks>', 'with --onset: 1024-sample chunks kept before the sound').argParser(intArg('--pre-roll', 0, 100)).default(1))
    .addOption(new Option('--countdown <seconds>', 'microphone only: count down before the first clip; 0 to start at once').argParser(intArg('--countdown', 0, 60)).default(3))
    .addOption(new Option('--max-clips <n>', 'stop after saving this many clips (default: no limit)').argParser(intArg('--max-clips', 1)))
    .addOption(new Option('--seconds <s>', 'stop after this much audio (default: until Ctrl+C or the end of the input)').argParser(numberArg('--seconds', 0)))
    .option('--json', 'print one JSON object per saved clip on stdout');
  addSourceOptions(cmd);
  cmd.addHelpText(
    'after',
    `
Every clip has exactly SAMPLES samples (the original mic.py rounded up to whole
1024-sample chunks; kws does not). The clip cut off by Ctrl+C, SIGTERM or the end of the input is discarded, not
saved short. A countdown on stderr shows how much of the current clip is left.

Examples:
  $ kws fixed yes 16000                 # 1-second clips, one after another
  $ kws fixed yes                       # as long as the longest clip in predata/
  $ kws fixed clap 8000 --onset         # one half-second clip per clap
  $ kws fixed yes 16000 --input long.wav --dir predata`,
  );
  cmd.action(async (label: string, samples: number | undefined, flags: FixedFlags, command: Command) => {
    // Every check on the flags runs before anything is opened or printed.
    checkSourceFlags(command, flags);
    rejectInapplicable(command, [
      { attribute: 'threshold', flag: '--threshold', applies: Boolean(flags.onset), why: 'it only applies with --onset (back-to-back clips ignore loudness)' },
      { attribute: 'preRoll', flag: '--pre-roll', applies: Boolean(flags.onset), why: 'it only applies with --onset (back-to-back clips have no onset)' },
      { attribute: 'countdown', flag: '--countdown', applies: isMicrophone(flags), why: 'the countdown is for the microphone only' },
    ]);
    await runFixed(label, samples, flags);
  });
}

export async function runFixed(label: string, samplesArg: number | undefined, flags: FixedFlags): Promise<void> {
  const path = await import('node:path');
  const { resolveSilenceThreshold } = await import('../util/config.js');
  const { openAudioSource, readUntilFailure, SAMPLE_RATE } = await import('../audio/source.js');
  const { FixedClipper } = await import('../audio/segmenter.js');
  const { ClipWriter, openSourceThenFolder, relativeToCwd, savedClipLine } = await import('../audio/clipwriter.js');
  const { scanClips, summarizeLengths } = await import('../audio/dataset.js');

  let length = samplesArg;
  let lengthFrom = 'given';
  if (length === undefined) {
    const scan = await scanClips(flags.dir).catch((err: unknown) => {
      throw inputError(`no clip length given and none to measure: ${err instanceof Error ? err.message : String(err)}`, 'Give the length in samples, e.g. `kws fixed yes 16000` (1 s at 16 kHz).');
    });
    if (scan.clips.length === 0) throw inputError(`no clip length given and no WAV files under ${flags.dir}/ to measure`, 'Give the length in samples, e.g. `kws fixed yes 16000` (1 s at 16 kHz).');
    const summary = summarizeLengths(scan.clips);
    length = summary.longest.samples;
    lengthFrom = `the longest clip, ${relativeToCwd(summary.longest.file)}`;
  }
  const threshold = await resolveSilenceThreshold(flags.threshold);
  const chunk = 1024;
  const writer = new ClipWriter(path.join(flags.dir, label), SAMPLE_RATE);
  const clipper = new FixedClipper({ length, mode: flags.onset ? 'onset' : 'back-to-back', threshold: threshold.value, preRollChunks: flags.preRoll });
  const { source, disposeSignals } = await openStoppable(
    () => openSourceThenFolder(writer, () => openAudioSource({ ...sourceOptionsFrom(flags), chunkSamples: chunk })),
    () => (clipper.pendingSamples > 0 ? 'discarding the unfinished clip' : 'stopping'),
  );
  const err = process.stderr;
  const tty = Boolean(err.isTTY);
  const mic = isMicrophone(flags);
  const dirShown = relativeToCwd(writer.dir);
  const secs = (n: number): string => (n / SAMPLE_RATE).toFixed(3);
  err.write(`Recording "${label}" from ${source.description} into ${dirShown}/\n`);
  err.write(`Clips of exactly ${length} samples (${secs(length)} s, ${lengthFrom})${flags.onset ? `, each starting at a sound above ${threshold.value}` : ', back to back'}.\n`);
  // A failing source (the recorder killed) ends the session like Ctrl+C: the summary is
  // printed, then the error is reported with its exit code.
  const reading = readUntilFailure(source);

  try {
    // The countdown runs inside the loop so the audio buffered meanwhile is read and dropped.
    const goAt = mic && flags.countdown > 0 ? Date.now() + flags.countdown * 1000 : 0;
    let shownCount = -1;
    let position = 0;
    const limit = flags.seconds === undefined ? Infinity : Math.round(flags.seconds * SAMPLE_RATE);
    let lastAnnounced = 0;
    let statusShown = false;
    for await (const c of reading.chunks) {
      const wait = goAt - Date.now();
      if (wait > 0) {
        const s = Math.ceil(wait / 1000);
        if (s !== shownCount) {
          err.write(tty ? `\r\x1b[2KStarting in ${s}...` : `Starting in ${s}...\n`);
          statusShown = tty;
          shownCount = s;
        }
        continue;
      }
      const take = position + c.length > limit ? c.subarray(0, Math.max(0, limit - position)) : c;
      position += take.length;
      for (const clip of clipper.push(take)) {
        const saved = await writer.save(clip.samples);
        if (statusShown) {
          err.write('\r\x1b[2K');
          statusShown = false;
        }
        process.stdout.write(savedClipLine(saved, { label, startSeconds: clip.start / SAMPLE_RATE, json: Boolean(flags.json) }));
        if (flags.maxClips !== undefined && writer.saved.length >= flags.maxClips) source.stop();
      }
      const n = writer.saved.length + 1;
      if (clipper.recording && !source.stopped) {
        const left = length - clipper.pendingSamples;
        if (tty) {
          const width = 30;
          const filled = Math.round((width * clipper.pendingSamples) / length);
          err.write(`\r\x1b[2Kclip ${n}  [${'#'.repeat(filled)}${'.'.repeat(width - filled)}]  ${(left / SAMPLE_RATE).toFixed(2)} s left`);
          statusShown = true;
        } else if (mic && n !== lastAnnounced) {
          err.write(`clip ${n}: go (${secs(length)} s)\n`);
          lastAnnounced = n;
        }
      } else if (tty && !source.stopped) {
        err.write(`\r\x1b[2Kwaiting for a sound (saved ${writer.saved.length})`);
        statusShown = true;
      }
      if (position >= limit) source.stop();
      if (source.stopped) break;
    }
    if (statusShown) err.write('\r\x1b[2K');
  } catch (e) {
    // A clip could not be saved (disk full, folder removed): say what is safe before the error.
    if (tty) err.write('\r\x1b[2K');
    const n = writer.saved.length;
    err.write(`${n} clip${n === 1 ? '' : 's'} of ${length} samples saved in ${dirShown}/ before the error\n`);
    throw e;
  } finally {
    disposeSignals();
    source.stop();
  }
  const reachedMax = flags.maxClips !== undefined && writer.saved.length >= flags.maxClips;
  if (clipper.pendingSamples > 0 && !reachedMax) {
    // In samples: seconds rounded to 3 places can make "0.919 of 0.919 s" look finished.
    err.write(`Discarded the unfinished clip (${clipper.pendingSamples} of ${length} samples).\n`);
  }
  const n = writer.saved.length;
  err.write(`${n} clip${n === 1 ? '' : 's'} of ${length} samples saved in ${dirShown}/\n`);
  const sourceError = reading.failure();
  if (sourceError !== undefined) throw sourceError;
}
