/**
 * The `kws` program. Each subcommand lives in src/commands/NAME.ts and exports
 * `define(program)`, which declares its options and help. Command modules import
 * only light modules at load time; the heavy core (TensorFlow.js, DSP) is imported
 * inside the action, so `kws --help` never pays for it.
 */
import { Command, CommanderError } from 'commander';
import { ExitCode, isUserError } from './util/errors';
import { VERSION } from './version';

import * as rms from './commands/rms';
import * as record from './commands/record';
import * as maxlen from './commands/maxlen';
import * as fixed from './commands/fixed';
import * as features from './commands/features';
import * as train from './commands/train';
import * as evaluate from './commands/evaluate';
import * as predict from './commands/predict';
import * as serve from './commands/serve';
import * as stream from './commands/stream';
import * as score from './commands/score';
import * as demo from './commands/demo';
import * as doctor from './commands/doctor';

const EXIT_CODES_HELP = `
Exit codes:
  0  success (Ctrl+C during a recording also exits 0 after saving)
  1  internal error: a bug in kws (please report it with the printed stack)
  2  usage error: an unknown option or a bad value
  3  input error: a missing, unreadable or malformed file or folder
  4  missing dependency or device: no sox/arecord, no microphone, no backend
  5  network error: port in use, server not answering
`;

export function buildProgram(): Command {
  const program = new Command();
  program
    .name('kws')
    .description('Teach a computer your own sounds and words, and recognise them live from a microphone.')
    .version(VERSION, '-V, --version', 'print the kws version')
    .showHelpAfterError('(run with --help for usage)')
    .exitOverride()
    .configureOutput({ outputError: (str, write) => write(`kws: ${str.replace(/^error: /, '')}`) })
    .addHelpText('after', EXIT_CODES_HELP);
  for (const mod of [rms, record, maxlen, fixed, features, train, evaluate, predict, serve, stream, score, demo, doctor]) {
    mod.define(program);
  }
  return program;
}

function reportAndExit(err: unknown): never {
  if (err instanceof CommanderError) {
    // Help and version are "errors" to commander; they already printed their text.
    const benign = err.code === 'commander.helpDisplayed' || err.code === 'commander.version' || err.code === 'commander.help';
    process.exit(benign ? ExitCode.ok : ExitCode.usage);
  }
  if (isUserError(err)) {
    process.stderr.write(`kws: ${err.message}\n`);
    if (err.hint) process.stderr.write(`  ${err.hint.replace(/\n/g, '\n  ')}\n`);
    process.exit(err.exitCode);
  }
  process.stderr.write(`kws: internal error (a bug in kws; please report it with this output)\n`);
  process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(ExitCode.internal);
}

export function main(argv: string[]): void {
  // Writing to a closed pipe (`kws rms | head`) is not an error worth a stack trace.
  process.stdout.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code === 'EPIPE') process.exit(ExitCode.ok);
  });
  buildProgram()
    .parseAsync(argv)
    .catch(reportAndExit);
}
