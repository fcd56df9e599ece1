/**
 * `kws score`: detection figures for a recording with a labels file, so --threshold and
 * --refractory can be tuned. Either runs the model over the recording exactly as the
 * server would (same windows, hop and detector), or scores the output of
 * `kws stream --json [--results]` saved to a file.
 */
import { Option, type Command } from 'commander';
import { intArg, numberArg } from './args';
import * as path from 'node:path';
import { promises as fsp } from 'node:fs';
import { inputError, usageError, errnoCode } from '../util/errors';

interface ScoreFlags {
  name?: string;
  labels?: string;
  hits?: string;
  hop: number;
  smooth: number;
  threshold: number;
  refractory: number;
  tolerance: number;
  sweep?: boolean;
  json?: boolean;
  backend: string;
  modelsDir: string;
}

export function define(program: Command): void {
  program
    .command('score')
    .description('measure detection on a recording with known words: recall, precision, false hits/hour, latency')
    .argument('<recording>', 'the WAV file that was (or will be) streamed')
    .option('-n, --name <model>', 'run this model over the recording as `kws serve` would')
    .option('--hits <file>', 'instead of a model: score saved `kws stream --json` output (hits, or every result with --results)')
    .option('--labels <file>', 'the words in the recording: JSON list of {label, start_s, end_s} or an Audacity label track (default: RECORDING.labels.json, .labels.txt or .txt beside it)')
    .addOption(new Option('--hop <ms>', 'classification hop, as kws serve --hop').argParser(numberArg('--hop', 10, 10_000)).default(256))
    .addOption(new Option('--smooth <windows>', 'windows averaged per result, as kws serve --smooth').argParser(intArg('--smooth', 1, 16)).default(4))
    .addOption(new Option('--threshold <p>', 'as kws stream --threshold').argParser(numberArg('--threshold', 0, 1)).default(0.6))
    .addOption(new Option('--refractory <seconds>', 'as kws stream --refractory').argParser(numberArg('--refractory', 0, 3600)).default(2))
    .addOption(new Option('--tolerance <seconds>', 'a hit counts when it falls within this of a word with its label').argParser(numberArg('--tolerance', 0, 60)).default(1.5))
    .option('--sweep', 'also print the figures for thresholds 0.30 to 0.95')
    .option('--json', 'print the report as JSON on stdout')
    .addOption(new Option('--backend <name>', 'TensorFlow.js backend').choices(['auto', 'tfjs-node', 'wasm', 'cpu']).default('auto'))
    .addOption(new Option('--models-dir <dir>', 'where model folders are').default('models'))
    .addHelpText(
      'after',
      `
A hit counts when its label matches a labelled word whose span it falls within --tolerance
seconds of; words and hits whose label starts with "_" are not keywords. Latency is from the
end of a word to its first hit, in stream time.

Examples:
  $ kws score ../shared/datasets/stream-example/stream.wav -n mfcc1
  $ kws score talk.wav -n mfcc1 --labels talk.txt --sweep
  $ kws stream -i talk.wav --fast --json --results > talk.jsonl && kws score talk.wav --hits talk.jsonl`,
    )
    .action(async (recording: string, flags: ScoreFlags, cmd: Command) => {
      // Saved results were already smoothed by the server that produced them.
      if (flags.hits !== undefined && cmd.getOptionValueSource('smooth') === 'cli') {
        throw usageError('--smooth applies only with -n MODEL', 'Results saved with --hits were smoothed by the server (kws serve --smooth); drop --smooth.');
      }
      await runScore(recording, flags);
    });
}

async function findLabels(recording: string, given: string | undefined): Promise<string> {
  if (given !== undefined) return given;
  const base = recording.replace(/\.wav$/i, '');
  for (const candidate of [`${base}.labels.json`, `${base}.labels.txt`, `${base}.txt`]) {
    try {
      await fsp.access(candidate);
      return candidate;
    } catch {
      // next
    }
  }
  throw usageError(`no labels file found for ${recording}`, `Pass --labels FILE (tried ${path.basename(base)}.labels.json, .labels.txt and .txt beside it).`);
}

async function readText(file: string): Promise<string> {
  try {
    return await fsp.readFile(file, 'utf8');
  } catch (err) {
    throw inputError(`${file}: ${errnoCode(err) === 'ENOENT' ? 'no such file' : `cannot read (${errnoCode(err) ?? String(err)})`}`);
  }
}

async function runScore(recording: string, flags: ScoreFlags): Promise<void> {
  if ((flags.name === undefined) === (flags.hits === undefined)) throw usageError('give either -n MODEL or --hits FILE', 'e.g. kws score stream.wav -n mfcc1');
  const { parseLabels, scoreHits, hitsFromResults } = await import('../stream/scoring.js');
  const labelsFile = await findLabels(recording, flags.labels);
  let words;
  try {
    words = parseLabels(await readText(labelsFile));
  } catch (err) {
    if (err instanceof Error && !('exitCode' in err)) throw inputError(`${labelsFile}: ${err.message}`);
    throw err;
  }
  const { readWavFile, mixToMono } = await import('../audio/wav.js');
  const wav = await readWavFile(recording);
  const durationS = (wav.data[0]?.length ?? 0) / wav.sampleRate;
  const detector = { threshold: flags.threshold, refractory: flags.refractory, includeHidden: false };

  type Result = { label: string; probability: number; t: number };
  let results: Result[] | null = null;
  let hits;
  let model: string | null = null;
  if (flags.hits !== undefined) {
    const lines = (await readText(flags.hits)).split('\n').filter((l) => l.trim() !== '');
    const parsed: Result[] = lines.map((line, i) => {
      let o: unknown;
      try {
        o = JSON.parse(line);
      } catch {
        throw inputError(`${flags.hits}: line ${i + 1} is not JSON`, 'Save the output of `kws stream --json` (one object per line).');
      }
      const r = o as Record<string, unknown>;
      if (typeof r.label !== 'string' || typeof r.probability !== 'number' || typeof r.t !== 'number') {
        throw inputError(`${flags.hits}: line ${i + 1} needs "label", "probability" and "t"`, 'Use the kws protocol (not --legacy) so results carry their stream time.');
      }
      return { label: r.label, probability: r.probability, t: r.t };
    });
    results = parsed;
    hits = hitsFromResults(parsed, detector);
  } else {
    const { ModelEngine } = await import('../stream/model-engine.js');
    const { AudioTrack } = await import('../stream/track.js');
    const { argmax } = await import('../stream/engine.js');
    const { parseBackendChoice } = await import('../model/backend.js');
    const { createProgress } = await import('../util/progress.js');
    const { readModelMetadata } = await import('../model/store.js');
    const { dir } = await readModelMetadata(flags.name as string, { modelsDir: flags.modelsDir });
    const engine = await ModelEngine.load(dir, { backend: parseBackendChoice(flags.backend) });
    model = engine.name;
    const hopSamples = Math.max(1, Math.round((flags.hop / 1000) * engine.sampleRate / engine.frameHop)) * engine.frameHop;
    const mono = mixToMono(wav.data);
    // The server's path: the track resamples and windows exactly as a session would.
    const track = new AudioTrack(engine, { clientRate: wav.sampleRate, hopSamples });
    const { PosteriorSmoother } = await import('../stream/smoothing.js');
    const smoother = new PosteriorSmoother(flags.smooth, hopSamples / engine.sampleRate);
    const due: import('../stream/track.js').DueWindow[] = [];
    const chunk = 1024;
    const progress = createProgress('scoring', mono.length, { quiet: Boolean(flags.json) });
    const all: Result[] = [];
    const drain = async (): Promise<void> => {
      const batch = due.splice(0, due.length);
      for (let i = 0; i < batch.length; i += 64) {
        const part = batch.slice(i, i + 64);
        const probs = await engine.classify(part.map((w) => w.features));
        part.forEach((w, k) => {
          const { index, probability } = argmax(smoother.push(w.t, probs[k] as Float32Array));
          all.push({ label: engine.labels[index] ?? String(index), probability, t: w.t });
        });
      }
    };
    for (let off = 0; off < mono.length; off += chunk) {
      track.append(off, mono.subarray(off, off + chunk), due);
      if (due.length >= 64) await drain();
      progress.update(Math.min(mono.length, off + chunk));
    }
    track.flush(due);
    await drain();
    progress.done();
    results = all;
    hits = hitsFromResults(all, detector);
  }
  const report = scoreHits(words, hits, durationS, flags.tolerance);
  const sweep = flags.sweep
    ? Array.from({ length: 14 }, (_, i) => 0.3 + i * 0.05).map((th) => {
        const r = scoreHits(words, hitsFromResults(results ?? [], { ...detector, threshold: th }), durationS, flags.tolerance);
        return { threshold: Math.round(th * 100) / 100, recall: r.recall, precision: r.precision, falseHitsPerHour: r.falseHitsPerHour, detected: r.detected, falseHits: r.falseHits };
      })
    : undefined;
  if (flags.json) {
    process.stdout.write(`${JSON.stringify({ recording, labels: labelsFile, model, threshold: flags.threshold, refractory: flags.refractory, hop_ms: flags.hop, smooth: flags.name !== undefined ? flags.smooth : null, ...report, sweep }, null, 2)}\n`);
    return;
  }
  const pct = (v: number): string => (Number.isFinite(v) ? `${(100 * v).toFixed(1)} %` : '-');
  const out: string[] = [];
  out.push(`${recording}: ${durationS.toFixed(1)} s, ${report.keywords} keywords (${labelsFile})${model ? `, model ${model}` : ''}`);
  out.push(`threshold ${flags.threshold}, refractory ${flags.refractory} s, tolerance ${flags.tolerance} s${model ? `, hop ${flags.hop} ms, smoothing ${flags.smooth} window(s)` : ''}`);
  out.push(`recall     ${pct(report.recall)}  (${report.detected}/${report.keywords} keywords found)`);
  out.push(`precision  ${pct(report.precision)}  (${report.correctHits}/${report.hits} hits correct)`);
  out.push(`false hits ${report.falseHits}: ${report.falseHitsPerMinute.toFixed(2)} per minute, ${report.falseHitsPerHour.toFixed(0)} per hour`);
  if (report.latency) out.push(`latency    word end -> hit: median ${report.latency.p50.toFixed(2)} s, mean ${report.latency.mean.toFixed(2)} s, max ${report.latency.max.toFixed(2)} s`);
  for (const [label, f] of Object.entries(report.perLabel).sort()) out.push(`  ${label.padEnd(12)} found ${f.detected}/${f.keywords}, false hits ${f.falseHits}`);
  for (const w of report.missed) out.push(`  missed ${w.label} at ${w.start.toFixed(2)}-${w.end.toFixed(2)} s`);
  for (const h of report.falses) out.push(`  false hit ${h.label} (${h.probability.toFixed(2)}) at ${h.t.toFixed(2)} s`);
  if (sweep) {
    out.push('', 'threshold  recall   precision  false hits/hour');
    for (const s of sweep) out.push(`${s.threshold.toFixed(2).padStart(9)}  ${pct(s.recall).padStart(7)}  ${pct(s.precision).padStart(9)}  ${s.falseHitsPerHour.toFixed(0).padStart(15)}`);
  }
  process.stdout.write(`${out.join('\n')}\n`);
}
