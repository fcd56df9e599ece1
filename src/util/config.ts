/**
 * The project config file: `kws.json` in the project folder (the folder that holds
 * predata/, data/, models/ — the current directory unless a command says otherwise).
 * `KWS_CONFIG=/path/to/file.json` points elsewhere. It is plain JSON a person may edit;
 * kws only rewrites the keys it was asked to set and keeps the rest, including keys it
 * does not know (other areas of kws add theirs).
 *
 *   { "silenceThreshold": 45 }
 */
import { promises as fsp } from 'node:fs';
import * as path from 'node:path';
import { errnoCode, inputError } from './errors';
import { writeFileAtomic } from './fsutil';

export const CONFIG_FILE_NAME = 'kws.json';
export const DEFAULT_SILENCE_THRESHOLD = 30;

export interface ProjectConfig {
  /** Integer-RMS level above which a 1024-sample chunk counts as sound (the original's scale). */
  silenceThreshold?: number;
  [key: string]: unknown;
}

export function configPath(projectDir: string = process.cwd()): string {
  const override = process.env.KWS_CONFIG;
  return override ? path.resolve(override) : path.join(projectDir, CONFIG_FILE_NAME);
}

/**
 * The config, or {} if there is no file. A malformed file is an input error naming it.
 * A KWS_CONFIG that names a missing file is an error too: the person asked for that
 * file, and quietly using the defaults instead would hide a typo in the path.
 */
export async function loadConfig(projectDir?: string): Promise<ProjectConfig> {
  return readConfig(projectDir, false);
}

async function readConfig(projectDir: string | undefined, forWriting: boolean): Promise<ProjectConfig> {
  const file = configPath(projectDir);
  let text: string;
  try {
    text = await fsp.readFile(file, 'utf8');
  } catch (err) {
    if (errnoCode(err) === 'ENOENT') {
      // Writing (kws rms --save) is how a new config file comes to exist, wherever it is.
      if (process.env.KWS_CONFIG && !forWriting) {
        throw inputError(`${file}: no such file (KWS_CONFIG points to it)`, 'Fix or unset KWS_CONFIG, or create the file: `kws rms --save` writes one.');
      }
      return {};
    }
    throw inputError(`${file}: cannot read the kws config file (${errnoCode(err) ?? String(err)})`);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    throw inputError(`${file}: not valid JSON (${err instanceof Error ? err.message : String(err)})`, 'Fix the file by hand or delete it; `kws rms --save` writes a fresh one.');
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw inputError(`${file}: the kws config must be a JSON object like {"silenceThreshold": 30}`);
  }
  const config = parsed as ProjectConfig;
  const t = config.silenceThreshold;
  if (t !== undefined && (typeof t !== 'number' || !Number.isFinite(t) || t < 0)) {
    throw inputError(`${file}: "silenceThreshold" must be a number >= 0, got ${JSON.stringify(t)}`);
  }
  return config;
}

/** Set some keys, keeping the others; written atomically. Returns the file written. */
export async function updateConfig(values: Partial<ProjectConfig>, projectDir?: string): Promise<string> {
  const file = configPath(projectDir);
  const current = await readConfig(projectDir, true);
  const next = { ...current, ...values };
  try {
    await writeFileAtomic(file, `${JSON.stringify(next, null, 2)}\n`);
  } catch (err) {
    const code = errnoCode(err);
    if (code === undefined) throw err;
    const why = code === 'ENOSPC' || code === 'EDQUOT' ? 'the disk is full' : code === 'EACCES' || code === 'EPERM' ? 'permission denied' : code === 'EROFS' ? 'the disk is read-only' : code;
    throw inputError(`${file}: cannot write the kws config file (${why})`, 'Point KWS_CONFIG at a writable file, or run kws from a folder you can write to.');
  }
  return file;
}

/** Where a threshold came from, for messages. */
export interface ResolvedThreshold {
  value: number;
  source: string;
}

/** --threshold, else the config file, else 30. */
export async function resolveSilenceThreshold(flag: number | undefined, projectDir?: string): Promise<ResolvedThreshold> {
  if (flag !== undefined) return { value: flag, source: '--threshold' };
  const config = await loadConfig(projectDir);
  if (config.silenceThreshold !== undefined) return { value: config.silenceThreshold, source: configPath(projectDir) };
  return { value: DEFAULT_SILENCE_THRESHOLD, source: 'default' };
}
