/**
 * Turns the server's per-window results into hits, as a person wants them reported:
 * a label is a hit when its probability reaches the threshold, at most once per label
 * within the refractory time (a word spans several overlapping windows), and labels
 * whose name starts with "_" (_background_, _unknown_) are not hits unless asked for.
 *
 * The original client printed at most one hit per label every 2 s but never the first
 * result of a label (its "last printed" table started empty and the first result only
 * filled it in); here the first qualifying result of every label is reported.
 */

export interface DetectorOptions {
  threshold: number;
  /** Seconds during which a label is not reported again. */
  refractory: number;
  /** Report labels starting with "_" too. */
  includeHidden: boolean;
}

export const DETECTOR_DEFAULTS: DetectorOptions = { threshold: 0.6, refractory: 2, includeHidden: false };

export function isHiddenLabel(label: string): boolean {
  return label.startsWith('_');
}

export class Detector {
  private readonly lastHit = new Map<string, number>();

  constructor(readonly opts: DetectorOptions = DETECTOR_DEFAULTS) {}

  /**
   * Whether the result at time `t` (seconds; stream time, or wall-clock time when the
   * protocol gives none) is a hit to report.
   */
  accept(label: string, probability: number, t: number): boolean {
    if (!this.opts.includeHidden && isHiddenLabel(label)) return false;
    if (!(probability >= this.opts.threshold)) return false;
    const last = this.lastHit.get(label);
    if (last !== undefined && t - last < this.opts.refractory && t >= last) return false;
    this.lastHit.set(label, t);
    return true;
  }
}

/** The original client's line: Python's repr of the reply dict, e.g. `hit {'label': 'yes', 'probability': 0.93}`. */
export function formatHit(label: string, probability: number): string {
  return `hit {'label': ${pyRepr(label)}, 'probability': ${probability}}`;
}

/** Python's repr() of a str: single quotes unless the text contains one and no double quote. */
function pyRepr(s: string): string {
  const q = s.includes("'") && !s.includes('"') ? '"' : "'";
  let out = q;
  for (const ch of s) {
    if (ch === '\\') out += '\\\\';
    else if (ch === q) out += `\\${q}`;
    else if (ch === '\n') out += '\\n';
    else if (ch === '\r') out += '\\r';
    else if (ch === '\t') out += '\\t';
    else if (ch < ' ' || ch === '\x7f') out += `\\x${ch.charCodeAt(0).toString(16).padStart(2, '0')}`;
    else out += ch;
  }
  return out + q;
}
