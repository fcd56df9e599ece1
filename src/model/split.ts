/**
 * Train/validation split, reproducible from a seed.
 *
 * 'clip': each label's clips are shuffled and the first valFraction of them held
 * out (stratified, so a small label is never missing from validation).
 * 'voice': whole speaker groups are held out, so validation measures what users
 * see — voices the model never heard. Clips without a known speaker are groups
 * of one.
 *
 * Owner: training.
 */
import { createRng, shuffleInPlace } from '../util/rng';
import { inputError } from '../util/errors';

export type SplitBy = 'clip' | 'voice';

export interface SplitInput {
  labelIndex: number;
  group: string | null;
}

export interface Split {
  /** Indices into the clip list, ascending. */
  train: number[];
  val: number[];
}

export function splitClips(clips: readonly SplitInput[], opts: { valFraction: number; by: SplitBy; seed: number }): Split {
  const { valFraction, by, seed } = opts;
  if (!(valFraction >= 0 && valFraction < 1)) throw new RangeError(`valFraction must be in [0, 1), got ${valFraction}`);
  const isVal = new Array<boolean>(clips.length).fill(false);
  if (by === 'clip') {
    const rng = createRng(seed);
    const byLabel = new Map<number, number[]>();
    clips.forEach((c, i) => {
      const list = byLabel.get(c.labelIndex) ?? [];
      list.push(i);
      byLabel.set(c.labelIndex, list);
    });
    for (const key of [...byLabel.keys()].sort((a, b) => a - b)) {
      const idx = shuffleInPlace([...(byLabel.get(key) ?? [])], rng);
      const nVal = Math.round(idx.length * valFraction);
      for (const i of idx.slice(0, nVal)) isVal[i] = true;
    }
  } else {
    // Groups are split per label so that each label keeps about valFraction of its
    // clips in validation; a speaker group that spans labels is decided once (by the
    // label where it is first drawn) so no voice is ever on both sides.
    const rng = createRng(seed);
    const groupOf = (i: number): string => {
      const g = clips[i]?.group;
      return g === null || g === undefined ? `\0clip:${i}` : `voice:${g}`;
    };
    const members = new Map<string, number[]>();
    clips.forEach((_, i) => {
      const g = groupOf(i);
      const list = members.get(g) ?? [];
      list.push(i);
      members.set(g, list);
    });
    const groupNames = shuffleInPlace([...members.keys()].sort(), rng);
    const labelTotals = new Map<number, number>();
    for (const c of clips) labelTotals.set(c.labelIndex, (labelTotals.get(c.labelIndex) ?? 0) + 1);
    const labelVal = new Map<number, number>();
    // Greedy: take a group into validation only if none of its labels goes past its
    // target by more than a small slack; a voice too big to fit stays in training and
    // smaller groups fill the rest.
    for (const g of groupNames) {
      const idx = members.get(g) ?? [];
      const counts = new Map<number, number>();
      for (const i of idx) {
        const l = clips[i]?.labelIndex ?? 0;
        counts.set(l, (counts.get(l) ?? 0) + 1);
      }
      // Wanted only while one of its labels is still short of its target.
      let fits = [...counts.keys()].some((l) => (labelVal.get(l) ?? 0) < valFraction * (labelTotals.get(l) ?? 0));
      for (const [l, n] of counts) {
        const total = labelTotals.get(l) ?? 0;
        const target = valFraction * total;
        const slack = Math.max(1, 0.05 * total);
        if ((labelVal.get(l) ?? 0) + n > target + slack) fits = false;
      }
      if (!fits) continue;
      for (const i of idx) isVal[i] = true;
      for (const [l, n] of counts) labelVal.set(l, (labelVal.get(l) ?? 0) + n);
    }
  }
  const train: number[] = [];
  const val: number[] = [];
  isVal.forEach((v, i) => (v ? val : train).push(i));
  return { train, val };
}

/** Refuse a split that leaves a label with nothing to learn from. */
export function checkSplit(split: Split, clips: readonly SplitInput[], labels: readonly string[]): void {
  const trainCounts = new Array<number>(labels.length).fill(0);
  for (const i of split.train) {
    const l = clips[i]?.labelIndex;
    if (l !== undefined) trainCounts[l] = (trainCounts[l] ?? 0) + 1;
  }
  trainCounts.forEach((n, l) => {
    if (n === 0) {
      throw inputError(
        `label ${labels[l]} has no clips left for training after the validation split`,
        'Record more clips for it, lower --val-split, or use --split-by clip.',
      );
    }
  });
}
