/**
 * Commander parsers for numeric options, shared by every command so a bad value reads the
 * same everywhere ("--hop must be a number from 10 to 10000, got "x".", exit 2).
 */
import { InvalidArgumentError } from 'commander';

/** A commander parser for a whole number in [min, max]. */
export function intArg(name: string, min: number, max = Number.MAX_SAFE_INTEGER): (value: string) => number {
  return (value: string) => {
    const n = Number(value);
    if (!/^\s*-?\d+\s*$/.test(value) || !Number.isSafeInteger(n) || n < min || n > max) {
      throw new InvalidArgumentError(`${name} must be a whole number${max === Number.MAX_SAFE_INTEGER ? ` >= ${min}` : ` from ${min} to ${max}`}, got "${value}".`);
    }
    return n;
  };
}

/** A commander parser for a number in [min, max]. */
export function numberArg(name: string, min: number, max = Infinity): (value: string) => number {
  return (value: string) => {
    const n = Number(value);
    if (value.trim() === '' || !Number.isFinite(n) || n < min || n > max) {
      throw new InvalidArgumentError(`${name} must be a number${max === Infinity ? ` >= ${min}` : ` from ${min} to ${max}`}, got "${value}".`);
    }
    return n;
  };
}
