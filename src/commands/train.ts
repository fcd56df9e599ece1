import { InvalidArgumentError, type Command } from 'commander';
import { usageError } from '../util/errors';
import { intArg, numberArg } from './args';
import type { ModelType, ArchName } from '../model/metadata';
import { MAX_ENSEMBLE } from '../model/ensemble';

const TYPES: readonly ModelType[] = ['mfcc', 'spectrogram', 'raw'];

interface TrainCliOptions {
  type?: string;
  mfcc?: boolean;
  spectrogram?: boolean;
  conv1d?: boolean;
  data: string;
  name?: string;
  arch: string;
  epochs?: number;
  batchSize?: number;
  learningRate?: number;
  valSplit?: number;
  splitBy: string;
  seed: number;
  augment?: boolean;
  noise?: string;
  syntheticNoise?: number;
  reversedNegatives?: number;
  ensemble: number;
  backend: string;
  threads?: number;
  json?: boolean;
  modelsDir: string;
  statsDir: string;
  cacheDir: string;
  cache: boolean;
  crop?: boolean;
  tensorboard?: string;
}

/** --type, or the original server's -m / -s / -1; two that disagree are a mistake. */
export function resolveType(o: Pick<TrainCliOptions, 'type' | 'mfcc' | 'spectrogram' | 'conv1d'>): ModelType {
  const chosen = new Set<ModelType>();
  if (o.type !== undefined) {
    if (!(TYPES as readonly string[]).includes(o.type)) throw usageError(`unknown --type '${o.type}'`, `Use one of: ${TYPES.join(', ')}.`);
    chosen.add(o.type as ModelType);
  }
  if (o.mfcc) chosen.add('mfcc');
  if (o.spectrogram) chosen.add('spectrogram');
  if (o.conv1d) chosen.add('raw');
  if (chosen.size > 1) throw usageError(`conflicting model types: ${[...chosen].join(' and ')}`, 'Give one of --type, -m, -s or -1.');
  return [...chosen][0] ?? 'mfcc';
}

/** --val-split: the shared number parser, plus "below 1" (holding out every clip leaves nothing to train on). */
function valSplitArg(value: string): number {
  const n = numberArg('--val-split', 0, 1)(value);
  if (n >= 1) throw new InvalidArgumentError(`--val-split must be at least 0 and below 1, got "${value}".`);
  return n;
}

/** The defaults table shown by `kws train --help`, read from the architectures themselves. */
function defaultsHelp(): string {
  try {
    // Help only: a synchronous require keeps the table in step with the code.
    const arch = require('../model/architectures') as typeof import('../model/architectures.js');
    const lines = ['\nDefaults per --type and --arch (flags override them):'];
    for (const t of TYPES) {
      for (const a of ['default', 'seed'] as ArchName[]) {
        const d = arch.archDefaults(t, a);
        const aug = a === 'seed' ? 'no augmentation' : d.masks || d.inNetworkAugmentation ? 'augmentation + SpecAugment on' : 'augmentation on';
        lines.push(`  ${t.padEnd(11)} ${a.padEnd(7)}  ${String(d.epochs).padStart(3)} epochs, batch ${d.batchSize}, learning rate ${d.learningRate}, ${a === 'seed' ? '60/40 split' : '80/20 split'}, ${aug}`);
      }
    }
    return lines.join('\n');
  } catch {
    return '';
  }
}

export function define(program: Command): void {
  program
    .command('train')
    .description('train a model on data/LABEL/*.wav and save it as models/NAME/ (with stats/NAME.json and an HTML report)')
    .option('-t, --type <type>', 'model type: mfcc, spectrogram or raw (default: mfcc)')
    .option('-m, --mfcc', 'same as --type mfcc (as the original server)')
    .option('-s, --spectrogram', 'same as --type spectrogram')
    .option('-1, --conv1d', 'same as --type raw (1-D convolution on the waveform)')
    .option('-d, --data <dir>', 'training clips, one sub-folder per label', 'data')
    .option('-n, --name <name>', 'model name (default: mfccmodel<unix time>, specmodel<unix time> or 1dconv<unix time>)')
    .option('--arch <arch>', "'default' (chosen to generalise) or 'seed' (the notebooks' exact model and training)", 'default')
    .option('--epochs <n>', 'training epochs (default: per architecture, see below)', intArg('--epochs', 1, 100000))
    .option('--batch-size <n>', 'clips per training step (default: per architecture)', intArg('--batch-size', 1, 100000))
    .option('--learning-rate <x>', 'peak Adam learning rate (default: per architecture)', numberArg('--learning-rate', 1e-6, 1))
    .option('--val-split <fraction>', 'share of clips held out for validation (default: 0.2; seed: 0.4)', valSplitArg)
    .option('--split-by <how>', "'clip' (stratified shuffle) or 'voice' (whole speakers held out: manifest.csv voice column, or SPEAKER__name.wav)", 'clip')
    .option('--seed <n>', 'seed for the split, weights, shuffling and augmentation', intArg('--seed', 0, 2 ** 32 - 1), 42)
    .option('--augment', 'augment training clips: speed, time shift, background noise and synthetic interference, gain, and SpecAugment masks where the type uses them (default for --arch default)')
    .option('--no-augment', 'train on the clips as recorded (default for --arch seed)')
    .option('--noise <dir>', 'background noise WAVs for augmentation (default: the training clips of DATA/_background_)')
    .option(
      '--synthetic-noise <share>',
      'with augmentation: share of the noisy clips that get synthetic interference (babble of reversed training speech, tones, clatter, swelling noise) instead of the background recordings; 0 uses the recordings only (default 0.5; see docs/training.md)',
      numberArg('--synthetic-noise', 0, 1),
    )
    .option(
      '--reversed-negatives <fraction>',
      'with augmentation and an _unknown_ label: add this many extra _unknown_ clips per epoch (as a share of the _unknown_ training clips), made of training speech played backwards (default 0; see docs/training.md)',
      numberArg('--reversed-negatives', 0, 10),
    )
    .option(
      '--ensemble <k>',
      `train k models from different seeds and average their probabilities: usually more accurate on unseen voices, k times the training and up to k times the inference work; stream it at a lower --threshold (default 1, at most ${MAX_ENSEMBLE}; see docs/training.md)`,
      intArg('--ensemble', 1, MAX_ENSEMBLE),
      1,
    )
    .option('--backend <name>', 'auto, tfjs-node, wasm or cpu', 'auto')
    .option(
      '--threads <n>',
      'threads that share every mini-batch on the wasm and cpu backends (default: KWS_THREADS, else one per core; tfjs-node always runs its own)',
      intArg('--threads', 1, 64),
    )
    .option('--models-dir <dir>', 'where model folders go', 'models')
    .option('--stats-dir <dir>', 'where normalisation stats go', 'stats')
    .option('--cache-dir <dir>', 'feature cache', 'preproc')
    .option('--no-cache', 'neither read nor write the feature cache')
    .option('--crop', 'keep the loudest window-length stretch of clips longer than the window instead of refusing them')
    .option('--tensorboard <dir>', 'also write TensorBoard logs (needs @tensorflow/tfjs-node)')
    .option('--json', 'print a machine-readable summary on stdout at the end')
    .addHelpText('after', () => `${defaultsHelp()}

Speaker-disjoint validation (--split-by voice) groups clips by the 'voice' column of
DATA/manifest.csv (columns file,voice), or else by the file-name prefix before '__' or
'_nohash_' (alice__yes_003.wav -> alice). Clips without a known speaker count as their own group.

Examples:
  $ kws train                                   # mfcc model from data/, default architecture
  $ kws train -s --name lights --epochs 30
  $ kws train --type raw --arch seed            # the notebooks' 1-D conv model and settings
  $ kws train --ensemble 3                      # three models averaged: slower, fewer mistakes
  $ kws train --data data --split-by voice --json > summary.json`)
    .action(async (o: TrainCliOptions) => {
      const type = resolveType(o);
      if (o.arch !== 'default' && o.arch !== 'seed') throw usageError(`unknown --arch '${o.arch}'`, 'Use default or seed.');
      if (o.splitBy !== 'clip' && o.splitBy !== 'voice') throw usageError(`unknown --split-by '${o.splitBy}'`, 'Use clip or voice.');
      const seed = o.seed;
      const { parseBackendChoice } = await import('../model/backend.js');
      const backend = parseBackendChoice(o.backend);
      const { runTraining } = await import('../model/pipeline.js');
      const r = await runTraining({
        type,
        arch: o.arch,
        dataDir: o.data,
        name: o.name,
        epochs: o.epochs,
        batchSize: o.batchSize,
        learningRate: o.learningRate,
        valSplit: o.valSplit,
        splitBy: o.splitBy,
        seed,
        augment: o.augment,
        noiseDir: o.noise,
        syntheticNoise: o.syntheticNoise,
        reversedNegatives: o.reversedNegatives,
        ensemble: o.ensemble,
        backend,
        threads: o.threads,
        modelsDir: o.modelsDir,
        statsDir: o.statsDir,
        cacheDir: o.cache ? o.cacheDir : null,
        crop: Boolean(o.crop),
        tensorboardDir: o.tensorboard,
      });
      const acc = r.valAccuracy === null ? 'no validation split' : `final validation accuracy ${(100 * r.valAccuracy).toFixed(1)}% (${r.valClips} clips)`;
      process.stderr.write(`saved model  ${r.modelDir}\nsaved stats  ${r.statsFile}\nreport       ${r.reportFile}\n${acc}; ${r.secondsPerEpoch.toFixed(1)} s per epoch on ${r.backend}${r.threads > 1 ? ` (${r.threads} threads)` : ''}\n`);
      if (o.json) {
        const { history, validation, ...summary } = r;
        process.stdout.write(`${JSON.stringify({ ...summary, history, validation }, null, 2)}\n`);
      }
    });
}
