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
    .description('measure a trained model on labelled clips: accuracy, per-label precision/recall, confusion matrix')
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
      const progress = createProgress('evaluating', ds.clips.length);
      const probs = await clf.predictFiles(
        ds.clips.map((c) => c.path),
        (done) => progress.update(done),
      );
      progress.done();
      const truth = ds.clips.map((c) => clf.labels.indexOf(c.label));
      const predicted = probs.map((p) => clf.top(p).index);
      const e = evaluatePredictions(clf.labels, truth, predicted);
      if (o.json) process.stdout.write(`${JSON.stringify({ model: clf.meta.name, data: ds.root, ...e }, null, 2)}\n`);
      else process.stdout.write(`model ${clf.meta.name} on ${ds.root}\n${formatEvaluation(e)}\n`);
    });
}
