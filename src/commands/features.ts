/**
 * `kws features FILE`: print or save the features a model sees for one WAV, through the
 * same code path as training (loadClip -> fitToWindow -> FeatureExtractor [-> stats]).
 */
import type { Command } from 'commander';
import { Option } from 'commander';
import { usageError } from '../util/errors';
import type { FeatureSpec } from '../features/spec';
import type { NormStats } from '../features/normalize';

interface FeaturesOptions {
  kind: string;
  pad: string;
  window: string;
  fit: string;
  model?: string;
  modelsDir: string;
  normalize: boolean;
  json: boolean;
  out?: string;
}

export function define(program: Command): void {
  program
    .command('features')
    .description('print or save the features (MFCC, log-mel or raw) a model sees for a WAV file')
    .argument('<file>', 'a WAV file (any rate/channels; converted to mono 16 kHz like training)')
    .addOption(new Option('--kind <kind>', 'feature kind').choices(['mfcc', 'logmel', 'raw']).default('mfcc'))
    .addOption(new Option('--pad <mode>', 'STFT centre padding (reflect = the original / librosa 0.8; constant = librosa >= 0.9)').choices(['reflect', 'constant']).default('reflect'))
    .option('--window <samples>', 'window length in samples (the notebooks used 16384)', '16384')
    .addOption(
      new Option('--fit <mode>', 'fit the clip to the window: centre/start zero-pad (longer clips keep their loudest stretch); none = the whole file').choices(['centre', 'start', 'none']).default('centre'),
    )
    .option('--model <name>', "use a trained model's own feature spec (a name under --models-dir, or a model folder); overrides --kind/--pad/--window")
    .option('--models-dir <dir>', 'where --model names are looked up', 'models')
    .option('--normalize', "apply the model's normalisation statistics (needs --model)", false)
    .option('--json', 'print JSON: spec, shape and the [rows][frames] array', false)
    .option('--out <file.npy>', 'write the [rows][frames] array as a float32 NumPy .npy file')
    .addHelpText(
      'after',
      `
Examples:
  $ kws features data/yes/yes-001.wav
  $ kws features clip.wav --kind logmel --pad constant --fit none --json > clip.json
  $ kws features clip.wav --model mywords --normalize --out clip.npy`,
    )
    .action(async (file: string, opts: FeaturesOptions) => {
      await runFeatures(file, opts);
    });
}

async function runFeatures(file: string, opts: FeaturesOptions): Promise<void> {
  const windowSamples = Number(opts.window);
  if (!Number.isInteger(windowSamples) || windowSamples <= 0) throw usageError(`--window must be a positive whole number of samples (got "${opts.window}")`);
  if (opts.normalize && !opts.model) throw usageError('--normalize needs --model NAME (the statistics come from the model)');
  if (opts.out !== undefined && !opts.out.toLowerCase().endsWith('.npy')) throw usageError(`--out must name a .npy file (got "${opts.out}")`);

  const { seedSpec, describeSpec } = await import('../features/spec.js');
  const { FeatureExtractor } = await import('../features/extract.js');
  const { fitToWindow } = await import('../features/window.js');
  const { loadClip } = await import('../audio/wav.js');

  let spec: FeatureSpec;
  let stats: NormStats | null = null;
  if (opts.model) {
    const model = await readModelSpec(opts.model, opts.modelsDir);
    spec = model.spec;
    stats = model.stats;
  } else {
    const kind = opts.kind as 'mfcc' | 'logmel' | 'raw';
    spec = seedSpec(kind, windowSamples);
    if (spec.spectral) spec.spectral.padMode = opts.pad as 'reflect' | 'constant';
  }

  const clip = await loadClip(file, spec.sampleRate);
  const extractor = new FeatureExtractor(spec);
  let data: Float32Array;
  let rows: number;
  let frames: number;
  if (opts.fit === 'none') {
    if (opts.normalize) throw usageError('--normalize needs a fixed window: drop --fit none', 'Statistics are per element of a window; a whole file has a different shape.');
    try {
      ({ data, rows, frames } = extractor.computeSignal(clip));
    } catch (err) {
      if (err instanceof RangeError) throw usageError(`${file}: ${err.message}`, 'Use --fit centre to zero-pad it to the window.');
      throw err;
    }
  } else {
    const window = fitToWindow(clip, spec.windowSamples, { mode: opts.fit as 'centre' | 'start' });
    data = extractor.compute(window);
    rows = extractor.rows;
    frames = extractor.frames;
  }
  if (stats !== null && opts.normalize) {
    const { Normalizer, checkStatsFit } = await import('../features/normalize.js');
    checkStatsFit(stats, spec, `model ${opts.model}`);
    new Normalizer(stats).apply(data);
  }

  if (opts.out !== undefined) {
    const { encodeNpy } = await import('../features/npy.js');
    const { writeFileAtomic } = await import('../util/fsutil.js');
    await writeFileAtomic(opts.out, encodeNpy(data, [rows, frames], '<f4'));
    if (!opts.json) process.stderr.write(`wrote ${opts.out}: float32 array [${rows}, ${frames}]\n`);
  }

  const description = describeSpec(spec);
  const fitNote = opts.fit === 'none' ? 'whole file' : clip.length > spec.windowSamples ? 'loudest window-length stretch' : `zero-padded (${opts.fit})`;
  if (opts.json) {
    const matrix: number[][] = [];
    for (let r = 0; r < rows; r++) matrix.push(Array.from(data.subarray(r * frames, (r + 1) * frames)));
    const out = {
      file,
      clipSamples: clip.length,
      fit: opts.fit,
      normalized: Boolean(stats !== null && opts.normalize),
      featureSpec: spec,
      description,
      shape: [rows, frames],
      data: matrix,
    };
    process.stdout.write(`${JSON.stringify(out)}\n`);
    return;
  }
  if (opts.out !== undefined) return;
  const lines: string[] = [];
  lines.push(`${file}: ${clip.length} samples (${(clip.length / spec.sampleRate).toFixed(3)} s), ${fitNote}`);
  lines.push(`features: ${description}${stats !== null && opts.normalize ? ', normalised with the model statistics' : ''}`);
  lines.push(`shape: [${rows}][${frames}] (rows x frames)`);
  let min = Infinity;
  let max = -Infinity;
  let sum = 0;
  for (let i = 0; i < data.length; i++) {
    const v = data[i];
    if (v < min) min = v;
    if (v > max) max = v;
    sum += v;
  }
  lines.push(`min ${fmt(min)}  max ${fmt(max)}  mean ${fmt(sum / data.length)}`);
  if (spec.kind === 'raw') {
    lines.push('(raw samples are not printed; use --json or --out FILE.npy to see them)');
  } else {
    const label = spec.kind === 'mfcc' ? 'c' : 'mel';
    const width = Math.max(...Array.from(data, (v) => fmt(v).length));
    for (let r = 0; r < rows; r++) {
      const cells: string[] = [];
      for (let t = 0; t < frames; t++) cells.push(fmt(data[r * frames + t]).padStart(width));
      lines.push(`${`${label}${r}`.padEnd(6)} ${cells.join(' ')}`);
    }
  }
  process.stdout.write(`${lines.join('\n')}\n`);
}

function fmt(v: number): string {
  return v.toFixed(2);
}

/** The feature spec and statistics stored with a model (its kws-model.json, via the model store). */
async function readModelSpec(ref: string, modelsDir: string): Promise<{ spec: FeatureSpec; stats: NormStats }> {
  const { readModelMetadata } = await import('../model/store.js');
  const { meta } = await readModelMetadata(ref, { modelsDir });
  return { spec: meta.featureSpec, stats: meta.stats };
}
