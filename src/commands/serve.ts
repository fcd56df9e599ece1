import type { Command } from 'commander';
import { UserError } from '../util/errors';

// Placeholder until this command is built; replaced by its owner.
export function define(program: Command): void {
  program
    .command('serve')
    .description('(serve: not built yet)')
    .action(() => {
      throw new UserError('kws serve is not built yet');
    });
}
