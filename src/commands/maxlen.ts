/**
 * `kws maxlen`: the longest clip under predata/ (the length `kws fixed` and the models
 * default to), and a warning naming clips far longer than the rest.
 */
import { Option, type Command } from 'commander';
import { ExitCode, UserError } from '../util/errors';
import { numberArg } from './args';

interface MaxlenFlags {
  dir: string;
  json?: boolean;
  factor: number;
}

export function define(program: Command): void {
  program
    .command('maxlen')
    .description('print the longest recording under predata/ (samples at 16 kHz and seconds) and warn about outliers')
    .addOption(new Option('--dir <folder>', 'recordings folder to scan (all *.wav below it)').default('predata'))
    .addOption(new Option('--factor <x>', 'warn about clips longer than this many times the median length of the other clips').argParser(numberArg('--factor', 1)).default(2))
    .option('--json', 'print one JSON object: {maxSamples, maxSeconds, file, clips, medianSamples, outliers, problems}')
    .addHelpText(
      'after',
      `
Lengths are read from the WAV headers and given in samples at 16 kHz (a 44.1 kHz clip is
counted as it will be after conversion). A file that cannot be read is named on stderr
and makes the exit code 3, after the result is printed.

Examples:
  $ kws maxlen
  $ kws maxlen --dir other-recordings --json`,
    )
    .action(async (flags: MaxlenFlags) => {
      const { scanClips, summarizeLengths } = await import('../audio/dataset.js');
      const { relativeToCwd } = await import('../audio/clipwriter.js');
      const scan = await scanClips(flags.dir);
      for (const p of scan.problems) process.stderr.write(`kws: warning: ${relativeToCwd(p.file)}: ${p.problem}\n`);
      if (scan.clips.length === 0) {
        throw new UserError(`no readable WAV files under ${flags.dir}/`, { exitCode: ExitCode.input, hint: 'Record some with `kws record LABEL`.' });
      }
      const s = summarizeLengths(scan.clips, flags.factor);
      const rate = 16000;
      if (flags.json) {
        process.stdout.write(
          `${JSON.stringify({
            maxSamples: s.longest.samples,
            maxSeconds: s.longest.samples / rate,
            file: s.longest.file,
            clips: scan.clips.length,
            medianSamples: s.medianSamples,
            outliers: s.outliers.map((o) => ({ file: o.file, samples: o.samples, seconds: o.samples / rate })),
            problems: scan.problems,
          })}\n`,
        );
      } else {
        process.stdout.write(`${s.longest.samples} samples (${(s.longest.samples / rate).toFixed(3)} s): ${relativeToCwd(s.longest.file)}\n`);
        process.stderr.write(`${scan.clips.length} clips; median ${s.medianSamples} samples (${(s.medianSamples / rate).toFixed(3)} s)\n`);
        if (s.outliers.length) {
          process.stderr.write(
            `kws: warning: ${s.outliers.length} clip${s.outliers.length === 1 ? ' is' : 's are'} more than ${flags.factor}x the median length of the other clips; the longest sets every model's input size:\n`,
          );
          for (const o of s.outliers.slice(0, 10)) process.stderr.write(`  ${relativeToCwd(o.file)}  ${o.samples} samples (${(o.samples / rate).toFixed(3)} s)\n`);
          if (s.outliers.length > 10) process.stderr.write(`  ... and ${s.outliers.length - 10} more (see --json)\n`);
          process.stderr.write('  Trim or delete them if they are mistakes.\n');
        }
      }
      if (scan.problems.length) process.exitCode = ExitCode.input;
    });
}
