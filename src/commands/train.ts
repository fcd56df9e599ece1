import type { Command } from 'commander';
import { UserError } from '../util/errors';

// Placeholder until this command is built; replaced by its owner.
export function define(program: Command): void {
  program
    .command('train')
    .description('(train: not built yet)')
    .action(() => {
      throw new UserError('kws train is not built yet');
    });
}
