import * as fs from 'node:fs';
import * as path from 'node:path';

/** The package root: dist/src/version.js lives two levels below it. */
export const PACKAGE_ROOT = path.resolve(__dirname, '..', '..');

function readVersion(): string {
  try {
    const pkg = JSON.parse(fs.readFileSync(path.join(PACKAGE_ROOT, 'package.json'), 'utf8')) as { version?: unknown };
    return typeof pkg.version === 'string' ? pkg.version : '0.0.0';
  } catch {
    return '0.0.0';
  }
}

export const VERSION = readVersion();
