import type { Command } from 'commander';
import { ExitCode } from '../util/errors';

const MARK = { ok: 'ok  ', warn: 'warn', fail: 'FAIL', skip: 'skip' } as const;

export function define(program: Command): void {
  program
    .command('doctor')
    .description('check Node, the TensorFlow.js backend, recorders and microphone, project folders and models')
    .option('--no-mic', 'do not try to record from the microphone')
    .option('--device <name>', 'microphone device to probe (as for kws record)')
    .option('--mic-timeout <ms>', 'how long to wait for audio from a recorder', (v) => Number(v), 3000)
    .option('--dir <folder>', 'project folder (with predata/, data/, models/, stats/)', '.')
    .option('--json', 'print the checks as one JSON object')
    .addHelpText('after', '\nExit code 4 when a check fails (warnings do not).\n\nExamples:\n  $ kws doctor\n  $ kws doctor --no-mic --json\n')
    .action(async (opts: { mic: boolean; device?: string; micTimeout: number; dir: string; json?: boolean }) => {
      const { runDoctor } = await import('../diagnostics/doctor.js');
      const checks = await runDoctor({ projectDir: opts.dir, probeMicrophone: opts.mic, device: opts.device, micTimeoutMs: opts.micTimeout });
      const failed = checks.some((c) => c.status === 'fail');
      if (opts.json) {
        process.stdout.write(`${JSON.stringify({ ok: !failed, checks }, null, 2)}\n`);
      } else {
        for (const c of checks) {
          process.stdout.write(`[${MARK[c.status]}] ${c.name}: ${c.detail.replace(/\n/g, '\n       ')}\n`);
          if (c.fix && c.status !== 'ok') process.stdout.write(`       fix: ${c.fix}\n`);
        }
        process.stdout.write(failed ? '\nSome checks failed; see the fixes above.\n' : '\nkws is ready.\n');
      }
      // The microphone probe may leave recorder handles closing; exit explicitly.
      process.exit(failed ? ExitCode.dependency : ExitCode.ok);
    });
}
