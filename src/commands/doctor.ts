import type { Command } from 'commander';
import { UserError } from '../util/errors';

// Placeholder until this command is built; replaced by its owner.
export function define(program: Command): void {
  program
    .command('doctor')
    .description('(doctor: not built yet)')
    .action(() => {
      throw new UserError('kws doctor is not built yet');
    });
}
