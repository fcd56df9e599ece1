/**
 * Classification metrics: accuracy, per-label precision/recall/F1 and the confusion
 * matrix (rows = true label, columns = predicted), plus a plain-text table.
 *
 * Owner: training.
 */

export interface LabelMetrics {
  label: string;
  support: number;
  precision: number | null;
  recall: number | null;
  f1: number | null;
}

export interface Evaluation {
  labels: string[];
  count: number;
  accuracy: number;
  perLabel: LabelMetrics[];
  /** confusion[true][predicted] */
  confusion: number[][];
}

export function argmaxRows(probs: Float32Array, numClasses: number): Int32Array {
  const n = Math.floor(probs.length / numClasses);
  const out = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    let best = 0;
    for (let c = 1; c < numClasses; c++) if ((probs[i * numClasses + c] as number) > (probs[i * numClasses + best] as number)) best = c;
    out[i] = best;
  }
  return out;
}

export function evaluatePredictions(labels: readonly string[], truth: ArrayLike<number>, predicted: ArrayLike<number>): Evaluation {
  const k = labels.length;
  const confusion = Array.from({ length: k }, () => new Array<number>(k).fill(0));
  let correct = 0;
  for (let i = 0; i < truth.length; i++) {
    const t = truth[i] as number;
    const p = predicted[i] as number;
    const row = confusion[t];
    if (row) row[p] = (row[p] ?? 0) + 1;
    if (t === p) correct++;
  }
  const perLabel: LabelMetrics[] = labels.map((label, c) => {
    const tp = confusion[c]?.[c] ?? 0;
    const support = (confusion[c] ?? []).reduce((a, b) => a + b, 0);
    const predictedAs = confusion.reduce((a, row) => a + (row[c] ?? 0), 0);
    // null rather than 0 or NaN when undefined: "never predicted" is not "always wrong".
    const precision = predictedAs > 0 ? tp / predictedAs : null;
    const recall = support > 0 ? tp / support : null;
    const f1 = precision !== null && recall !== null && precision + recall > 0 ? (2 * precision * recall) / (precision + recall) : null;
    return { label, support, precision, recall, f1 };
  });
  return { labels: [...labels], count: truth.length, accuracy: truth.length > 0 ? correct / truth.length : 0, perLabel, confusion };
}

const pct = (v: number | null): string => (v === null ? '-' : `${(100 * v).toFixed(1)}%`);

/** The evaluation as a text table for a terminal. */
export function formatEvaluation(e: Evaluation): string {
  const w = Math.max(5, ...e.labels.map((l) => l.length));
  const lines: string[] = [];
  lines.push(`accuracy ${pct(e.accuracy)} on ${e.count} clips`);
  lines.push('');
  lines.push(`${'label'.padEnd(w)}  precision  recall     f1  clips`);
  for (const m of e.perLabel) {
    lines.push(`${m.label.padEnd(w)}  ${pct(m.precision).padStart(9)}  ${pct(m.recall).padStart(6)}  ${pct(m.f1).padStart(6)}  ${String(m.support).padStart(5)}`);
  }
  lines.push('');
  lines.push('confusion matrix (rows: true label, columns: predicted)');
  const cw = Math.max(4, ...e.labels.map((l) => Math.min(l.length, 10)), ...e.confusion.flat().map((v) => String(v).length));
  lines.push(`${''.padEnd(w)}  ${e.labels.map((l) => l.slice(0, 10).padStart(cw)).join(' ')}`);
  e.confusion.forEach((row, i) => {
    lines.push(`${(e.labels[i] ?? '').padEnd(w)}  ${row.map((v) => String(v).padStart(cw)).join(' ')}`);
  });
  return lines.join('\n');
}
