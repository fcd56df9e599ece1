import type { Command } from 'commander';
import { UserError } from '../util/errors';

// Placeholder until this command is built; replaced by its owner.
export function define(program: Command): void {
  program
    .command('stream')
    .description('(stream: not built yet)')
    .action(() => {
      throw new UserError('kws stream is not built yet');
    });
}
