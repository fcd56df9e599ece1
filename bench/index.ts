/**
 * `npm run bench`: every speed goal of the project, measured side by side with its
 * reference in one run (timings on shared machines are noisy; ratios within one run are
 * what to compare). Usage:
 *
 *   npm run bench                        # all benchmarks, human-readable
 *   npm run bench -- --json              # one JSON object on stdout
 *   npm run bench -- --only features,train --quick
 *
 * Each benchmark also runs alone: node dist/bench/{features,train,serve,detection}.js --help
 */
import * as os from 'node:os';
import { runFeatureBench } from './features';
import { runTrainBench } from './train';
import { runServeBench } from './serve';
import { runDetectionBench } from './detection';

const ALL = ['features', 'train', 'serve', 'detection'] as const;
type BenchName = (typeof ALL)[number];

function parseArgs(argv: string[]): { json: boolean; quick: boolean; only: BenchName[] } {
  let json = false;
  let quick = false;
  let only: BenchName[] = [...ALL];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--json') json = true;
    else if (a === '--quick') quick = true;
    else if (a === '--only') {
      const names = (argv[++i] ?? '').split(',').filter(Boolean);
      for (const n of names) {
        if (!(ALL as readonly string[]).includes(n)) {
          process.stderr.write(`bench: unknown benchmark "${n}"; choose from ${ALL.join(', ')}\n`);
          process.exit(2);
        }
      }
      only = names as BenchName[];
    } else {
      process.stderr.write(`bench: unknown argument "${a}"\nusage: npm run bench -- [--json] [--quick] [--only ${ALL.join(',')}]\n`);
      process.exit(2);
    }
  }
  return { json, quick, only };
}

async function main(): Promise<void> {
  const { json, quick, only } = parseArgs(process.argv.slice(2));
  const results: Record<string, unknown> = {
    machine: { cpus: os.cpus().length, model: os.cpus()[0]?.model ?? '?', node: process.version, loadAverage: os.loadavg() },
  };
  for (const name of only) {
    if (!json) process.stdout.write(`\n=== ${name} ===\n`);
    if (name === 'features') results.features = await runFeatureBench({ json, clips: quick ? 100 : undefined, streamSeconds: quick ? 60 : undefined });
    if (name === 'train') results.train = await runTrainBench({ json, quick });
    if (name === 'serve') results.serve = await runServeBench({ json, quick });
    if (name === 'detection') results.detection = await runDetectionBench({ json });
  }
  if (json) process.stdout.write(`${JSON.stringify(results, null, 2)}\n`);
}

main().catch((err: unknown) => {
  process.stderr.write(`bench failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
