/**
 * Progress for long work: a line that redraws in place on a terminal, and
 * occasional plain lines when stderr is piped (so logs stay readable).
 * Progress always goes to stderr, so stdout stays clean for --json.
 */
export interface Progress {
  update(done: number, detail?: string): void;
  done(message?: string): void;
}

export function createProgress(label: string, total: number, opts: { quiet?: boolean; stream?: NodeJS.WriteStream } = {}): Progress {
  const stream = opts.stream ?? process.stderr;
  const tty = Boolean(stream.isTTY);
  const start = Date.now();
  let lastPrinted = -1;
  let lastTime = 0;
  const render = (done: number, detail?: string): string => {
    const pct = total > 0 ? Math.floor((100 * done) / total) : 100;
    const elapsed = (Date.now() - start) / 1000;
    const eta = done > 0 && done < total ? ` ETA ${formatSeconds((elapsed * (total - done)) / done)}` : '';
    return `${label}: ${done}/${total} (${pct}%)${eta}${detail ? ` ${detail}` : ''}`;
  };
  return {
    update(done, detail) {
      if (opts.quiet) return;
      const now = Date.now();
      if (tty) {
        if (now - lastTime < 100 && done < total) return;
        stream.write(`\r\x1b[2K${render(done, detail)}`);
      } else {
        // Piped: one line per 10 % step at most.
        const step = total > 0 ? Math.floor((10 * done) / total) : 10;
        if (step === lastPrinted) return;
        lastPrinted = step;
        stream.write(`${render(done, detail)}\n`);
      }
      lastTime = now;
    },
    done(message) {
      if (opts.quiet) return;
      if (tty) stream.write('\r\x1b[2K');
      if (message) stream.write(`${message}\n`);
    },
  };
}

export function formatSeconds(s: number): string {
  if (!Number.isFinite(s)) return '?';
  if (s < 60) return `${s.toFixed(s < 10 ? 1 : 0)}s`;
  const m = Math.floor(s / 60);
  return `${m}m${String(Math.round(s - 60 * m)).padStart(2, '0')}s`;
}
