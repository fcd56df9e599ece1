/**
 * `kws doctor`: checks what kws needs on this machine and says, for each problem,
 * the command that fixes it. Every check is independent and never throws: a broken
 * piece is reported, not fatal, so one run shows everything that is wrong.
 */
import { promises as fsp } from 'node:fs';
import * as path from 'node:path';
import { errorMessage } from '../util/errors';
import { listSubfolders } from '../util/fsutil';

export type CheckStatus = 'ok' | 'warn' | 'fail' | 'skip';

export interface CheckResult {
  name: string;
  status: CheckStatus;
  detail: string;
  /** The command (or step) that fixes a problem. */
  fix?: string;
}

export interface DoctorOptions {
  projectDir: string;
  /** Try to record a moment from each installed recorder. */
  probeMicrophone: boolean;
  device?: string;
  /** How long to wait for the first audio from a recorder. */
  micTimeoutMs: number;
}

const MIN_NODE_MAJOR = 20;

export function checkNode(version: string = process.versions.node): CheckResult {
  const major = Number(version.split('.')[0]);
  if (major >= MIN_NODE_MAJOR) return { name: 'node', status: 'ok', detail: `Node.js ${version}` };
  return {
    name: 'node',
    status: 'fail',
    detail: `Node.js ${version} is too old; kws needs ${MIN_NODE_MAJOR} or newer`,
    fix: 'install Node.js 20 LTS or newer (https://nodejs.org, or `nvm install 20`)',
  };
}

export async function checkBackend(): Promise<CheckResult[]> {
  const { initBackend, backendReport } = await import('../model/backend.js');
  const out: CheckResult[] = [];
  try {
    const info = await initBackend('auto');
    const report = backendReport();
    const kernels = report.customKernels.length ? `; kws training kernels: ${report.customKernels.join(', ')}` : '';
    out.push({ name: 'tensorflow backend', status: 'ok', detail: `${info.name} (TensorFlow.js ${report.tfjsVersion ?? '?'})${kernels}` });
    if (info.name !== 'tensorflow') {
      out.push({
        name: 'tfjs-node',
        status: 'warn',
        detail: `not in use: ${report.tfjsNodeUnavailable ?? 'not tried'}. kws runs on ${info.name}, which gives the same results`,
        fix: 'optional, for speed on machines that can download libtensorflow: `npm install @tensorflow/tfjs-node`',
      });
    }
  } catch (err) {
    out.push({
      name: 'tensorflow backend',
      status: 'fail',
      detail: `no TensorFlow.js backend loads: ${errorMessage(err)}`,
      fix: 'reinstall the dependencies: `npm ci` in the kws folder',
    });
  }
  return out;
}

/** Start a recorder and wait for its first chunk of audio. */
async function probeRecorder(recorder: 'rec' | 'arecord' | 'sox', device: string | undefined, timeoutMs: number): Promise<string | null> {
  const { openAudioSource } = await import('../audio/source.js');
  let source: Awaited<ReturnType<typeof openAudioSource>> | undefined;
  let timer: NodeJS.Timeout | undefined;
  try {
    source = await openAudioSource({ recorder, device, chunkSamples: 1024 });
    const opened = source;
    const first = (async (): Promise<null> => {
      for await (const chunk of opened) {
        if (chunk.length > 0) return null;
      }
      throw new Error('the recorder stopped without delivering audio');
    })();
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`no audio within ${timeoutMs} ms`)), timeoutMs);
    });
    return await Promise.race([first, timeout]);
  } catch (err) {
    return errorMessage(err);
  } finally {
    if (timer) clearTimeout(timer);
    source?.stop();
  }
}

export async function checkRecorders(opts: DoctorOptions): Promise<CheckResult[]> {
  const { findOnPath } = await import('../audio/source.js');
  const out: CheckResult[] = [];
  const installed = (['rec', 'arecord', 'sox'] as const).filter((r) => findOnPath(r) !== undefined);
  if (installed.length === 0) {
    out.push({
      name: 'recorders',
      status: 'fail',
      detail: 'neither SoX (rec/sox) nor ALSA (arecord) is installed, so kws cannot use a microphone (files and stdin still work)',
      fix: 'Debian/Ubuntu: `sudo apt install sox libsox-fmt-pulse alsa-utils`; macOS: `brew install sox`; Windows: `choco install sox.portable`',
    });
    return out;
  }
  out.push({ name: 'recorders', status: 'ok', detail: `installed: ${installed.join(', ')}` });
  if (!opts.probeMicrophone) {
    out.push({ name: 'microphone', status: 'skip', detail: 'not probed (--no-mic)' });
    return out;
  }
  for (const recorder of installed.filter((r) => r !== 'sox')) {
    const problem = await probeRecorder(recorder, opts.device, opts.micTimeoutMs);
    out.push(
      problem === null
        ? { name: `microphone (${recorder})`, status: 'ok', detail: 'audio arrives' }
        : {
            name: `microphone (${recorder})`,
            status: 'fail',
            detail: problem,
            fix: 'check that a microphone is connected and not muted (`arecord -l` lists capture devices; `pactl list short sources` under PulseAudio), or pick one with --device',
          },
    );
  }
  return out;
}

export async function checkFolders(projectDir: string): Promise<CheckResult[]> {
  const out: CheckResult[] = [];
  for (const folder of ['predata', 'data', 'models', 'stats']) {
    const p = path.join(projectDir, folder);
    try {
      const st = await fsp.stat(p);
      if (!st.isDirectory()) throw new Error('not a folder');
      const entries = await listSubfolders(p);
      out.push({ name: `${folder}/`, status: 'ok', detail: entries.length ? `${entries.length} sub-folder(s): ${entries.slice(0, 8).join(', ')}${entries.length > 8 ? ', ...' : ''}` : 'empty' });
    } catch {
      out.push({
        name: `${folder}/`,
        status: 'warn',
        detail: `missing in ${projectDir}`,
        fix: `\`mkdir -p ${folder}\` (kws record and kws train create what they need)`,
      });
    }
  }
  return out;
}

export async function checkModels(projectDir: string): Promise<CheckResult[]> {
  const { readModelMetadata } = await import('../model/store.js');
  const modelsDir = path.join(projectDir, 'models');
  let names: string[] = [];
  try {
    names = await listSubfolders(modelsDir);
  } catch {
    names = [];
  }
  if (names.length === 0) {
    return [{ name: 'models', status: 'warn', detail: 'no trained models yet', fix: '`kws train --type mfcc` (after moving clips from predata/ to data/)' }];
  }
  const out: CheckResult[] = [];
  for (const name of names) {
    try {
      const { meta } = await readModelMetadata(path.join(modelsDir, name));
      const acc = meta.metrics.valAccuracy === null ? '' : `, validation accuracy ${(100 * meta.metrics.valAccuracy).toFixed(1)} %`;
      out.push({ name: `model ${name}`, status: 'ok', detail: `${meta.type} (${meta.training.arch}), labels ${meta.labels.join(', ')}${acc}` });
    } catch (err) {
      out.push({ name: `model ${name}`, status: 'warn', detail: errorMessage(err), fix: `retrain it, or remove models/${name}` });
    }
  }
  return out;
}

export async function runDoctor(opts: DoctorOptions): Promise<CheckResult[]> {
  return [
    checkNode(),
    ...(await checkBackend()),
    ...(await checkRecorders(opts)),
    ...(await checkFolders(opts.projectDir)),
    ...(await checkModels(opts.projectDir)),
  ];
}
