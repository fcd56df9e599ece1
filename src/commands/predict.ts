import type { Command } from 'commander';
import { usageError } from '../util/errors';

interface PredictCliOptions {
  model?: string;
  top: string;
  json?: boolean;
  backend: string;
  modelsDir: string;
}

export function define(program: Command): void {
  program
    .command('predict')
    .description('classify WAV files with a trained model: label and probability per file')
    .argument('<file...>', 'WAV files (any rate, mono or stereo; converted to the model\'s rate)')
    .option('-n, --model <name>', 'model name under --models-dir, or a path to a model folder (required)')
    .option('-k, --top <k>', 'also show the k most probable labels', '1')
    .option('--json', 'print a JSON array on stdout instead of a table')
    .option('--backend <name>', 'auto, tfjs-node, wasm or cpu', 'auto')
    .option('--models-dir <dir>', 'where model folders are looked up', 'models')
    .addHelpText('after', `
Clips shorter than the model's window are centred in it; longer ones are judged by their loudest
window-length stretch.

Examples:
  $ kws predict -n mfccmodel1700000000 clip.wav
  $ kws predict --model models/lights --top 3 data/yes/*.wav
  $ kws predict -n lights --json take1.wav take2.wav | jq '.[].label'`)
    .action(async (files: string[], o: PredictCliOptions) => {
      if (o.model === undefined) throw usageError('which model? --model NAME is required', 'List your models with `ls models/`, or train one with `kws train`.');
      const k = Number(o.top);
      if (!Number.isInteger(k) || k < 1) throw usageError(`--top must be a whole number >= 1, got '${o.top}'`);
      const { parseBackendChoice } = await import('../model/backend.js');
      const backend = parseBackendChoice(o.backend);
      const { Classifier } = await import('../model/classifier.js');
      const clf = await Classifier.load(o.model, { backend, modelsDir: o.modelsDir });
      const probs = await clf.predictFiles(files);
      const results = probs.map((p, i) => {
        const order = Array.from(p, (_v, j) => j).sort((a, b) => (p[b] as number) - (p[a] as number));
        const top = order.slice(0, Math.min(k, p.length)).map((j) => ({ label: clf.labels[j] as string, probability: p[j] as number }));
        const best = top[0] as { label: string; probability: number };
        return { file: files[i] as string, label: best.label, probability: best.probability, top };
      });
      if (o.json) {
        process.stdout.write(`${JSON.stringify(k > 1 ? results : results.map(({ top: _t, ...r }) => r), null, 2)}\n`);
        return;
      }
      const w = Math.max(4, ...results.map((r) => r.file.length));
      for (const r of results) {
        const rest = k > 1 ? `  (${r.top.map((t) => `${t.label} ${t.probability.toFixed(3)}`).join(', ')})` : '';
        process.stdout.write(`${r.file.padEnd(w)}  ${r.label}  ${r.probability.toFixed(3)}${rest}\n`);
      }
    });
}
