/**
 * Detection benchmark (issue #5 point 7): recall, false hits per minute and delay of a model
 * on labelled streams, with and without posterior smoothing, computed by the real
 * `kws score` (the server's windows, smoothing and detector, without the network).
 *
 * Two streams: the shared stream-example (60 s, 12 keywords; its voices are training voices)
 * and a stream built from the model's own validation voices (heldout-stream.ts; ~14 min,
 * ~250 keywords), which is what a new speaker would see.
 *
 * The model: KWS_BENCH_MODEL or the shipped demo model. Needs ../shared/datasets.
 *
 * Run alone: node dist/bench/detection.js [--json]
 */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { makeHeldoutStream } from './heldout-stream';

export interface DetectionRow {
  stream: string;
  seconds: number;
  smooth: number;
  threshold: number;
  keywords: number;
  detected: number;
  recall: number;
  falseHits: number;
  falseHitsPerMinute: number;
  latencyP50S: number | null;
}

export interface DetectionBenchResult {
  bench: 'detection';
  model: string;
  rows: DetectionRow[];
}

const repoRoot = path.resolve(__dirname, '..', '..');
const sharedRoot = path.resolve(repoRoot, '..', 'shared');

interface ScoreJson {
  durationS: number;
  keywords: number;
  detected: number;
  recall: number;
  falseHits: number;
  falseHitsPerMinute: number;
  latency: { p50: number } | null;
}

function score(wav: string, labels: string, model: string, smooth: number, threshold: number): ScoreJson {
  const out = execFileSync(process.execPath, [path.join(repoRoot, 'bin', 'kws'), 'score', wav, '-n', model, '--labels', labels, '--smooth', String(smooth), '--threshold', String(threshold), '--json'], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
    maxBuffer: 64 * 1024 * 1024,
  });
  return JSON.parse(out) as ScoreJson;
}

export async function runDetectionBench(opts: { json: boolean }): Promise<DetectionBenchResult> {
  const model = process.env.KWS_BENCH_MODEL ?? path.join(repoRoot, 'assets', 'demo', 'model');
  const data = path.join(sharedRoot, 'datasets', 'keywords-train');
  const example = path.join(sharedRoot, 'datasets', 'stream-example', 'stream.wav');
  if (!fs.existsSync(data) || !fs.existsSync(example)) throw new Error(`the detection bench needs ${path.join(sharedRoot, 'datasets')}`);
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'kws-bench-detect-'));
  try {
    const heldout = await makeHeldoutStream({ dataDir: data, modelDir: model, outWav: path.join(tmp, 'heldout.wav') });
    const streams = [
      { name: 'stream-example', wav: example, labels: example.replace(/\.wav$/, '.labels.json') },
      { name: `held-out voices (${heldout.voices} voices)`, wav: heldout.wav, labels: heldout.labels },
    ];
    const rows: DetectionRow[] = [];
    for (const s of streams) {
      // 1 = no smoothing; 4 = kws serve's default.
      for (const smooth of [1, 3, 4, 5]) {
        const r = score(s.wav, s.labels, model, smooth, 0.6);
        const row: DetectionRow = {
          stream: s.name,
          seconds: Math.round(r.durationS),
          smooth,
          threshold: 0.6,
          keywords: r.keywords,
          detected: r.detected,
          recall: r.recall,
          falseHits: r.falseHits,
          falseHitsPerMinute: r.falseHitsPerMinute,
          latencyP50S: r.latency ? r.latency.p50 : null,
        };
        rows.push(row);
        if (!opts.json) {
          process.stdout.write(
            `${s.name.padEnd(34)} ${String(row.seconds).padStart(4)} s  smooth ${smooth}${smooth === 4 ? '*' : ' '} found ${row.detected}/${row.keywords} (${(100 * row.recall).toFixed(1)} %)  ` +
              `false hits ${row.falseHits} (${row.falseHitsPerMinute.toFixed(2)}/min)  delay p50 ${row.latencyP50S === null ? '-' : row.latencyP50S.toFixed(2)} s\n`,
          );
        }
      }
    }
    return { bench: 'detection', model, rows };
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}

if (require.main === module) {
  const json = process.argv.includes('--json');
  runDetectionBench({ json })
    .then((r) => {
      if (json) process.stdout.write(`${JSON.stringify(r, null, 2)}\n`);
    })
    .catch((err: unknown) => {
      process.stderr.write(`detection bench failed: ${err instanceof Error ? err.message : String(err)}\n`);
      process.exit(1);
    });
}
