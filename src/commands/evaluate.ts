import type { Command } from 'commander';
import { inputError, usageError } from '../util/errors';

interface EvaluateCliOptions {
  model?: string;
  data: string;
  json?: boolean;
  backend: string;
  modelsDir: string;
}

export function define(program: Command): void {
  program
    .command('evaluate')
    .description('Measure a trained model on labelled clips: accuracy, per-label precision/recall, confusion matrix')
    .option('-n, --model <name>', 'model name under --models-dir, or a path to a model folder (required)')
    .option('-d, --data <dir>', 'labelled clips, one sub-folder per label (names must be labels of the model)', 'data')
    .option('--json', 'print the evaluation as JSON on stdout')
    .option('--backend <name>', 'auto, tfjs-node, wasm or cpu', 'auto')
    .option('--models-dir <dir>', 'where model folders are looked up', 'models')
    .addHelpText('after', `
Use clips the model was not trained on (other speakers, another room) to see how it will do for real.

Examples:
  $ kws evaluate -n mfccmodel1700000000 --data testdata
  $ kws evaluate --model models/lights --data ~/recordings/held-out --json`)
    .action(async (o: EvaluateCliOptions) => {
      if (o.model === undefined) throw usageError('which model? --model NAME is required', 'List your models with `ls models/`, or train one with `kws train`.');
      const { parseBackendChoice } = await import('../model/backend.js');
      const backend = parseBackendChoice(o.backend);
      const { scanDataset } = await import('../model/dataset.js');
      const { Classifier } = await import('../model/classifier.js');
      const { loadClip } = await import('../audio/wav.js');
      const { evaluatePredictions, formatEvaluation } = await import('../model/evaluate.js');
      const { createProgress } = await import('../util/progress.js');
      // Single-label folders are fine here (testing one word), so scan tolerates them.
      const ds = await scanDataset(o.data, { minLabels: 1 });
      const clf = await Classifier.load(o.model, { backend, modelsDir: o.modelsDir });
      const unknown = ds.labels.filter((l) => !clf.labels.includes(l));
      if (unknown.length > 0) {
        throw inputError(
          `${o.data} has folder(s) the model does not know: ${unknown.join(', ')}`,
          `The model's labels are: ${clf.labels.join(', ')}. Remove or rename those folders.`,
        );
      }
      const truth: number[] = [];
      const predicted: number[] = [];
      const progress = createProgress('evaluating', ds.clips.length);
      const CHUNK = 64;
      for (let s = 0; s < ds.clips.length; s += CHUNK) {
        const chunk = ds.clips.slice(s, s + CHUNK);
        const clips: Float32Array[] = [];
        for (const c of chunk) clips.push(await loadClip(c.path, clf.spec.sampleRate));
        clf.predictClips(clips).forEach((p, i) => {
          truth.push(clf.labels.indexOf((chunk[i] as { label: string }).label));
          predicted.push(clf.top(p).index);
        });
        progress.update(Math.min(ds.clips.length, s + CHUNK));
      }
      progress.done();
      const e = evaluatePredictions(clf.labels, truth, predicted);
      if (o.json) process.stdout.write(`${JSON.stringify({ model: clf.meta.name, data: ds.root, ...e }, null, 2)}\n`);
      else process.stdout.write(`model ${clf.meta.name} on ${ds.root}\n${formatEvaluation(e)}\n`);
    });
}
