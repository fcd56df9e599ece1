/**
 * Detection figures for a recording with known words: recall, precision, false hits per
 * hour and the delay from the end of a word to its hit. Used by `kws score` to tune
 * --threshold and --refractory, and by the tests to check detection quality.
 *
 * Matching rule (issue #5): a hit counts when its label matches a labelled word whose span
 * it falls within `tolerance` seconds of. A word is detected when at least one hit counts
 * for it; a hit that counts for no word is a false hit. Words and hits whose label starts
 * with "_" (_unknown_, _background_) are not keywords: they are never expected, and a hit
 * for them is never reported (see detector.ts), so they take no part in the figures.
 */
import { Detector, isHiddenLabel, type DetectorOptions } from './detector';
import { quantile } from './stats';

export interface LabelledWord {
  label: string;
  start: number;
  end: number;
}

export interface Hit {
  label: string;
  /** Seconds of stream time (end of the window that produced it). */
  t: number;
  probability: number;
}

export interface WindowResult {
  label: string;
  probability: number;
  t: number;
}

export interface LabelFigures {
  keywords: number;
  detected: number;
  falseHits: number;
}

export interface ScoreReport {
  tolerance: number;
  durationS: number;
  keywords: number;
  detected: number;
  recall: number;
  hits: number;
  correctHits: number;
  falseHits: number;
  precision: number;
  falseHitsPerHour: number;
  falseHitsPerMinute: number;
  /** Seconds from word end to its first counting hit (negative: the hit came before the word ended). */
  latency: { p50: number; mean: number; max: number } | null;
  perLabel: Record<string, LabelFigures>;
  missed: LabelledWord[];
  falses: Hit[];
}

export const DEFAULT_TOLERANCE = 1.5;

/** The hits a client with these detector settings would report from these window results. */
export function hitsFromResults(results: readonly WindowResult[], opts: DetectorOptions): Hit[] {
  const d = new Detector({ ...opts, includeHidden: false });
  const hits: Hit[] = [];
  for (const r of [...results].sort((a, b) => a.t - b.t)) {
    if (d.accept(r.label, r.probability, r.t)) hits.push({ label: r.label, t: r.t, probability: r.probability });
  }
  return hits;
}

export function scoreHits(words: readonly LabelledWord[], allHits: readonly Hit[], durationS: number, tolerance = DEFAULT_TOLERANCE): ScoreReport {
  const keywords = words.filter((w) => !isHiddenLabel(w.label));
  const hits = allHits.filter((h) => !isHiddenLabel(h.label)).sort((a, b) => a.t - b.t);
  const firstHit = new Map<LabelledWord, number>();
  const perLabel: Record<string, LabelFigures> = {};
  const fig = (label: string): LabelFigures => (perLabel[label] ??= { keywords: 0, detected: 0, falseHits: 0 });
  for (const w of keywords) fig(w.label).keywords++;
  const falses: Hit[] = [];
  let correct = 0;
  for (const h of hits) {
    // The nearest same-label word whose span (widened by the tolerance) contains the hit.
    let best: LabelledWord | null = null;
    let bestDist = Infinity;
    for (const w of keywords) {
      if (w.label !== h.label || h.t < w.start - tolerance || h.t > w.end + tolerance) continue;
      const dist = h.t < w.start ? w.start - h.t : h.t > w.end ? h.t - w.end : 0;
      // Prefer a word not detected yet, so two close words of one label can both be found.
      const penalty = firstHit.has(w) ? tolerance * 2 : 0;
      if (dist + penalty < bestDist) {
        bestDist = dist + penalty;
        best = w;
      }
    }
    if (best === null) {
      falses.push(h);
      fig(h.label).falseHits++;
      continue;
    }
    correct++;
    if (!firstHit.has(best)) {
      firstHit.set(best, h.t);
      fig(best.label).detected++;
    }
  }
  const latencies = [...firstHit.entries()].map(([w, t]) => t - w.end);
  const detected = firstHit.size;
  return {
    tolerance,
    durationS,
    keywords: keywords.length,
    detected,
    recall: keywords.length > 0 ? detected / keywords.length : NaN,
    hits: hits.length,
    correctHits: correct,
    falseHits: falses.length,
    precision: hits.length > 0 ? correct / hits.length : NaN,
    falseHitsPerHour: durationS > 0 ? (falses.length * 3600) / durationS : NaN,
    falseHitsPerMinute: durationS > 0 ? (falses.length * 60) / durationS : NaN,
    latency:
      latencies.length > 0
        ? { p50: quantile(latencies, 0.5), mean: latencies.reduce((a, b) => a + b, 0) / latencies.length, max: Math.max(...latencies) }
        : null,
    perLabel,
    missed: keywords.filter((w) => !firstHit.has(w)),
    falses,
  };
}

/**
 * Read a labels file: a JSON list of {"label", "start_s", "end_s"} (what the shared
 * stream-example has; "start"/"end" are accepted too), or an Audacity label track
 * (tab-separated "start end label" lines), which is what most people can make by hand.
 * Throws an Error with a message naming the problem; the caller adds the file name.
 */
export function parseLabels(text: string): LabelledWord[] {
  const trimmed = text.trim();
  if (trimmed.startsWith('[') || trimmed.startsWith('{')) {
    let data: unknown;
    try {
      data = JSON.parse(trimmed);
    } catch (err) {
      throw new Error(`not valid JSON (${(err as Error).message})`);
    }
    const list = Array.isArray(data) ? data : (data as { words?: unknown }).words;
    if (!Array.isArray(list)) throw new Error('expected a JSON list of {"label", "start_s", "end_s"} objects');
    return list.map((item: unknown, i) => {
      const o = item as Record<string, unknown>;
      const label = o?.label;
      const start = o?.start_s ?? o?.start;
      const end = o?.end_s ?? o?.end;
      if (typeof label !== 'string' || typeof start !== 'number' || typeof end !== 'number' || !(end >= start)) {
        throw new Error(`entry ${i + 1} needs a string "label" and numbers "start_s" <= "end_s"`);
      }
      return { label, start, end };
    });
  }
  const words: LabelledWord[] = [];
  trimmed.split(/\r?\n/).forEach((line, i) => {
    if (line.trim() === '' || line.startsWith('#')) return;
    const cols = line.split('\t');
    const start = Number(cols[0]);
    const end = Number(cols[1]);
    const label = (cols[2] ?? '').trim();
    if (cols.length < 3 || !Number.isFinite(start) || !Number.isFinite(end) || end < start || label === '') {
      throw new Error(`line ${i + 1}: expected "START<TAB>END<TAB>LABEL" (an Audacity label track) or a JSON list`);
    }
    words.push({ label, start, end });
  });
  return words;
}
