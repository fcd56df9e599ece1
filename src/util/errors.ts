/**
 * Errors a person can act on. Anything thrown as a UserError is printed as one
 * message (plus an optional hint) without a stack trace, and sets the exit code.
 * Anything else is a bug in kws and is printed with its stack.
 */

/** Exit codes, documented in `kws --help` and docs/exit-codes.md. */
export const ExitCode = {
  ok: 0,
  internal: 1,
  usage: 2,
  input: 3,
  dependency: 4,
  network: 5,
} as const;
export type ExitCodeValue = (typeof ExitCode)[keyof typeof ExitCode];

export class UserError extends Error {
  readonly exitCode: ExitCodeValue;
  readonly hint?: string;
  constructor(message: string, options: { exitCode?: ExitCodeValue; hint?: string; cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'UserError';
    this.exitCode = options.exitCode ?? ExitCode.input;
    this.hint = options.hint;
  }
}

/** A bad option or argument (exit 2). */
export function usageError(message: string, hint?: string): UserError {
  return new UserError(message, { exitCode: ExitCode.usage, hint });
}

/** A file or folder that is missing, unreadable or malformed (exit 3). */
export function inputError(message: string, hint?: string): UserError {
  return new UserError(message, { exitCode: ExitCode.input, hint });
}

export function isUserError(err: unknown): err is UserError {
  return err instanceof UserError;
}

export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** Node's errno code (ENOENT, EADDRINUSE, ...) of an error, if it has one. */
export function errnoCode(err: unknown): string | undefined {
  if (typeof err === 'object' && err !== null && 'code' in err) {
    const code = (err as { code: unknown }).code;
    return typeof code === 'string' ? code : undefined;
  }
  return undefined;
}
