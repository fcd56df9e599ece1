/**
 * Shared test helpers: where the repository and the compiled tree are, and how
 * to run the real `kws` binary (bin/kws) against the compiled tree under test.
 */
import { spawn, spawnSync, type ChildProcess, type SpawnSyncReturns } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

/** dist/test/helpers.js -> dist; works for any out dir (dist, dist-foo). */
export const distRoot = path.resolve(__dirname, '..');
export const repoRoot = path.resolve(distRoot, '..');
export const kwsBin = path.join(repoRoot, 'bin', 'kws');
/** The read-only shared material beside the repository (datasets, reference features). */
export const sharedRoot = path.resolve(repoRoot, '..', 'shared');
export const fixturesDir = path.join(repoRoot, 'test', 'fixtures');

function kwsEnv(extra?: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  return { ...process.env, KWS_DIST: distRoot, NO_COLOR: '1', ...extra };
}

export interface RunResult {
  status: number | null;
  stdout: string;
  stderr: string;
}

/** Run `kws ARGS...` to completion. */
export function runKws(args: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv; input?: string | Buffer; timeoutMs?: number } = {}): RunResult {
  const r: SpawnSyncReturns<string> = spawnSync(process.execPath, [kwsBin, ...args], {
    cwd: opts.cwd ?? repoRoot,
    env: kwsEnv(opts.env),
    input: opts.input,
    encoding: 'utf8',
    timeout: opts.timeoutMs ?? 120_000,
    maxBuffer: 64 * 1024 * 1024,
  });
  return { status: r.status, stdout: r.stdout ?? '', stderr: r.stderr ?? '' };
}

/** Start `kws ARGS...` in the background (for servers, recordings, signals). */
export function spawnKws(args: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): ChildProcess {
  return spawn(process.execPath, [kwsBin, ...args], {
    cwd: opts.cwd ?? repoRoot,
    env: kwsEnv(opts.env),
    stdio: ['pipe', 'pipe', 'pipe'],
  });
}

/** A `kws serve` started by spawnKws, with the port it bound and its stderr so far. */
export interface ServeProcess {
  child: ChildProcess;
  port: number;
  stderr: () => string;
}

/** Start `kws serve -n MODEL -p 0 ARGS...` and wait until it says which free port it bound (no probe-then-bind race). */
export async function startKwsServe(modelDir: string, args: string[] = [], env?: NodeJS.ProcessEnv): Promise<ServeProcess> {
  const child = spawnKws(['serve', '-n', modelDir, '-p', '0', ...args], { env });
  let err = '';
  child.stderr?.on('data', (d: Buffer) => (err += d.toString()));
  const deadline = Date.now() + 60_000;
  let m: RegExpExecArray | null = null;
  while ((m = /listening on udp [^\s]+:(\d+)/.exec(err)) === null) {
    if (child.exitCode !== null || Date.now() > deadline) throw new Error(`kws serve did not start:\n${err}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  return { child, port: Number(m[1]), stderr: () => err };
}

/** SIGTERM (as `docker stop` sends) and the exit code. */
export async function stopKwsServe(child: ChildProcess): Promise<number | null> {
  if (child.exitCode !== null) return child.exitCode;
  child.kill('SIGTERM');
  return new Promise((r) => child.once('exit', (code) => r(code)));
}

/** A fresh temporary folder, removed when the process exits. */
export function makeTempDir(prefix = 'kws-test-'): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  process.on('exit', () => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}
