/**
 * `kws rms`: the live input level, on the original's integer RMS scale (the scale of the
 * silence threshold) and in dBFS, so a person can pick a threshold; `--save` measures
 * the room and writes a suggested threshold to the project config.
 */
import { Option, type Command } from 'commander';
import { numberArg } from './args';
import { addSourceOptions, checkSourceFlags, openStoppable, sourceOptionsFrom, type SourceFlags } from './audio-options';

interface RmsFlags extends SourceFlags {
  json?: boolean;
  seconds?: number;
  save?: boolean;
  threshold?: number;
}

const BAR_WIDTH = 40;
const BAR_FLOOR_DB = -80;

export function define(program: Command): void {
  const cmd = program
    .command('rms')
    .description('show the live input level (integer RMS per 1024-sample chunk, as the silence threshold uses, and dBFS)')
    .option('--json', 'one JSON object per chunk: {chunk, t, rms, dbfs, peak, zcrPerSecond, centroidHz, loud}')
    .addOption(new Option('--seconds <s>', 'stop after this much audio (default: until Ctrl+C or the end of the input; 3 with --save)').argParser(numberArg('--seconds', 0.1)))
    .option('--save', 'measure the room (stay quiet!) and write a suggested silence threshold to ./kws.json')
    .addOption(new Option('-t, --threshold <rms>', 'threshold marked on the meter (default: ./kws.json, else 30)').argParser(numberArg('--threshold', 0)));
  addSourceOptions(cmd);
  cmd.addHelpText(
    'after',
    `
On a terminal the meter redraws in place ("|" marks the threshold); piped, it prints one
"rms:  N  D dBFS" line per chunk. The threshold \`kws record\` uses is on the N scale:
a chunk is sound when N is above it.

Examples:
  $ kws rms                             # watch the level, Ctrl+C to stop
  $ kws rms --save                      # 3 s of room noise -> silenceThreshold in kws.json
  $ kws rms --input clip.wav --json | head`,
  );
  cmd.action(async (flags: RmsFlags, command: Command) => {
    checkSourceFlags(command, flags);
    const { openAudioSource, SAMPLE_RATE } = await import('../audio/source.js');
    const { readChunk, roomNoiseProblem, suggestThreshold } = await import('../audio/meter.js');
    const { formatDbfs } = await import('../audio/level.js');
    const { resolveSilenceThreshold, updateConfig } = await import('../util/config.js');
    const { relativeToCwd } = await import('../audio/clipwriter.js');

    const threshold = await resolveSilenceThreshold(flags.threshold);
    const seconds = flags.seconds ?? (flags.save ? 3 : undefined);
    const limit = seconds === undefined ? Infinity : Math.round(seconds * SAMPLE_RATE);
    const { source, disposeSignals } = await openStoppable(() => openAudioSource({ ...sourceOptionsFrom(flags), chunkSamples: 1024 }), 'stopping');
    const tty = Boolean(process.stdout.isTTY) && !flags.json;
    process.stderr.write(`Level of ${source.description}${flags.save ? ` for ${seconds} s: stay quiet` : ''}${seconds === undefined ? '; Ctrl+C to stop' : ''}\n`);
    const readings: number[] = [];
    let position = 0;
    let index = 0;
    try {
      for await (const c of source) {
        const take = position + c.length > limit ? c.subarray(0, Math.max(0, limit - position)) : c;
        position += take.length;
        if (take.length === 0) break;
        const r = readChunk(take, index++, position, SAMPLE_RATE, threshold.value);
        readings.push(r.rms);
        if (flags.json) {
          process.stdout.write(`${JSON.stringify({ ...r, dbfs: Number.isFinite(r.dbfs) ? Number(r.dbfs.toFixed(2)) : null, zcrPerSecond: r.zcrPerSecond === null ? null : Math.round(r.zcrPerSecond), centroidHz: r.centroidHz === null ? null : Math.round(r.centroidHz) })}\n`);
        } else if (tty) {
          process.stdout.write(`\r\x1b[2Krms: ${String(r.rms).padStart(5)}  ${formatDbfs(r.dbfs).padStart(6)} dBFS  ${bar(r.dbfs, threshold.value)}${r.loud ? ' sound' : ''}`);
        } else {
          process.stdout.write(`rms:  ${r.rms}  ${formatDbfs(r.dbfs)} dBFS\n`);
        }
        if (position >= limit) source.stop();
        if (source.stopped) break;
      }
    } finally {
      disposeSignals();
      source.stop();
    }
    if (tty) process.stdout.write('\n');
    if (flags.save) {
      if (readings.length === 0) {
        const { inputError } = await import('../util/errors.js');
        throw inputError('no audio was read, so there is nothing to measure; nothing saved');
      }
      const s = suggestThreshold(readings);
      const file = await updateConfig({ silenceThreshold: s.threshold });
      process.stderr.write(
        `Room noise over ${(position / SAMPLE_RATE).toFixed(1)} s: median ${s.median}, 95th percentile ${s.p95}, loudest ${s.max} (integer RMS).\n`,
      );
      process.stdout.write(`silenceThreshold ${s.threshold} saved to ${relativeToCwd(file)}\n`);
      const problem = roomNoiseProblem(s);
      if (problem) {
        process.stderr.write(
          `kws: warning: the room was not quiet: ${problem}, so the saved threshold ${s.threshold} may be too high for your sounds to pass.\n  Measure again in silence (\`kws rms --save\`), or set the threshold yourself (--threshold N, or "silenceThreshold" in ${relativeToCwd(file)}).\n`,
        );
      }
    }
  });
}

/** A level bar from BAR_FLOOR_DB to 0 dBFS with the threshold marked by "|". */
function bar(db: number, threshold: number): string {
  const cell = (d: number): number => Math.max(0, Math.min(BAR_WIDTH, Math.round(((d - BAR_FLOOR_DB) / -BAR_FLOOR_DB) * BAR_WIDTH)));
  const filled = Number.isFinite(db) ? cell(db) : 0;
  const mark = threshold > 0 ? cell(20 * Math.log10(threshold / 32768)) : -1;
  let s = '';
  for (let i = 0; i < BAR_WIDTH; i++) s += i === mark ? '|' : i < filled ? '#' : '-';
  return `[${s}]`;
}
