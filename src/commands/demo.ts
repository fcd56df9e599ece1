import { Option, type Command } from 'commander';
import { numberArg } from './args';

interface DemoFlags {
  model?: string;
  recording?: string;
  labels?: string;
  realtime?: boolean;
  threshold: number;
  backend: string;
  json?: boolean;
}

export function define(program: Command): void {
  program
    .command('demo')
    .description('see kws recognise words: serve the shipped model, stream a shipped recording, score the hits')
    .option('--realtime', 'stream at the pace of a live microphone (60 s) instead of as fast as possible')
    .addOption(new Option('--threshold <p>', 'report a word when its probability reaches this').default(0.6).argParser(numberArg('--threshold', 0, 1)))
    .option('--model <dir>', 'model folder to serve (default: the shipped demo model, assets/demo/model)')
    .option('--recording <wav>', 'recording to stream (default: assets/demo/stream.wav)')
    .option('--labels <json>', 'the words really said in the recording (default: beside the recording, NAME.labels.json)')
    .option('--backend <name>', 'TensorFlow.js backend: auto, tfjs-node, wasm or cpu', 'auto')
    .option('--json', 'print the hits and the score as one JSON object')
    .addHelpText(
      'after',
      `
The demo runs two real kws processes on this machine: \`kws serve\` on a free UDP port and
\`kws stream\` sending the recording to it, then stops both.

Examples:
  $ kws demo
  $ kws demo --realtime
  $ kws demo --model models/mymodel --recording my-session.wav --labels my-session.labels.json`,
    )
    .action(async (flags: DemoFlags) => {
      const path = await import('node:path');
      const { runDemo, checkDemoInputs, DEMO_MODEL, DEMO_RECORDING } = await import('../demo/demo.js');
      const recording = flags.recording ?? DEMO_RECORDING;
      const labels = flags.labels ?? recording.replace(/\.wav$/i, '') + '.labels.json';
      const model = flags.model ?? DEMO_MODEL;
      // Validate first: a bad path must not follow a header that promised a demo.
      const inputs = await checkDemoInputs({ model, recording, labels });
      const log = flags.json ? (): void => undefined : (line: string): void => void process.stdout.write(`${line}\n`);
      if (!flags.json) log(`kws demo: recognising ${inputs.keywords.join(' / ')} in ${path.basename(recording)}\n`);
      const result = await runDemo({ model, recording, labels, realtime: Boolean(flags.realtime), threshold: flags.threshold, backend: flags.backend, log }, inputs);
      const s = result.score;
      if (flags.json) {
        process.stdout.write(`${JSON.stringify({ hits: result.hits, score: s, seconds: result.seconds }, null, 2)}\n`);
        return;
      }
      log(
        `\nscore: ${s.detected}/${s.keywords} keywords found (${(100 * s.recall).toFixed(0)} %), ` +
          `${s.falseHits} false hit${s.falseHits === 1 ? '' : 's'} in ${s.durationS.toFixed(0)} s, ` +
          `${result.seconds.toFixed(1)} s wall`,
      );
    });
}
