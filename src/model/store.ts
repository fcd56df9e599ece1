/**
 * Model folders: models/NAME/{model.json, weights.bin, kws-model.json}.
 *
 * model.json + weights.bin are the standard TensorFlow.js layers format (loadable by
 * tf.loadLayersModel in a browser too); kws-model.json is the ModelMetadata (labels, feature spec,
 * normalisation stats, training settings). Saving and loading go through in-memory IO handlers
 * (tf.io.withSaveHandler / tf.io.fromMemory) and node:fs, never tfjs-node's file:// handler, so
 * every backend reads and writes the same bytes and a model saved on one loads on any other.
 *
 * A folder is written under a temporary name and renamed into place, so a crash never leaves a
 * half-written model; an existing folder is never replaced.
 *
 * Owner: model core.
 */
import { promises as fsp } from 'node:fs';
import * as path from 'node:path';
import type { LayersModel, io } from '@tensorflow/tfjs';
import type { TF } from './backend';
import { registerKwsLayers } from './layers';
import { METADATA_FILE, parseMetadata, type ModelMetadata } from './metadata';
import { inputError, errnoCode, errorMessage, UserError, ExitCode } from '../util/errors';
import { tempPathFor, writeFileSynced } from '../util/fsutil';

export const MODEL_FILE = 'model.json';
export const WEIGHTS_FILE = 'weights.bin';
/** Where `kws` looks for a model given by name (the original's folder convention). */
export const MODELS_DIR = 'models';

interface ModelJson {
  format: 'layers-model';
  generatedBy: string;
  convertedBy: null;
  modelTopology: unknown;
  weightsManifest: Array<{ paths: string[]; weights: io.WeightsManifestEntry[] }>;
}

function concatWeights(data: ArrayBuffer | ArrayBuffer[] | undefined): Uint8Array {
  if (data === undefined) return new Uint8Array(0);
  const parts = Array.isArray(data) ? data : [data];
  const total = parts.reduce((n, p) => n + p.byteLength, 0);
  const out = new Uint8Array(total);
  let o = 0;
  for (const p of parts) {
    out.set(new Uint8Array(p), o);
    o += p.byteLength;
  }
  return out;
}

/**
 * Save `model` and `meta` as the folder `dir`. Fails with an inputError if `dir` exists.
 * The folder appears complete or not at all.
 */
export async function saveModelFolder(dir: string, model: LayersModel, meta: ModelMetadata): Promise<void> {
  const target = path.resolve(dir);
  const parent = path.dirname(target);
  await fsp.mkdir(parent, { recursive: true });
  // Claim the name first: mkdir fails if anything is there, so no existing folder is ever replaced.
  try {
    await fsp.mkdir(target);
  } catch (err) {
    if (errnoCode(err) === 'EEXIST') {
      throw inputError(`model folder ${dir} already exists; kws never overwrites a model`, 'Choose another name, or delete the old folder yourself.');
    }
    throw err;
  }
  const tmp = tempPathFor(target);
  try {
    await fsp.mkdir(tmp);
    const tf = (await import('@tensorflow/tfjs')) as TF;
    let artifacts: io.ModelArtifacts | null = null;
    await model.save(
      tf.io.withSaveHandler(async (a) => {
        artifacts = a;
        return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } };
      }),
    );
    const saved = artifacts as io.ModelArtifacts | null;
    if (!saved || !saved.modelTopology || !saved.weightSpecs) throw new Error('TensorFlow.js produced no model topology or weights to save');
    const weights = concatWeights(saved.weightData as ArrayBuffer | ArrayBuffer[] | undefined);
    const modelJson: ModelJson = {
      format: 'layers-model',
      generatedBy: `kws ${meta.kwsVersion} (TensorFlow.js ${tf.version.tfjs})`,
      convertedBy: null,
      modelTopology: saved.modelTopology,
      weightsManifest: [{ paths: [`./${WEIGHTS_FILE}`], weights: saved.weightSpecs }],
    };
    await writeFileSynced(path.join(tmp, WEIGHTS_FILE), weights);
    await writeFileSynced(path.join(tmp, MODEL_FILE), JSON.stringify(modelJson));
    await writeFileSynced(path.join(tmp, METADATA_FILE), `${JSON.stringify(meta, null, 2)}\n`);
    // Replaces the empty folder claimed above in one step.
    await fsp.rename(tmp, target);
  } catch (err) {
    await fsp.rm(tmp, { recursive: true, force: true });
    await fsp.rmdir(target).catch(() => undefined);
    throw err;
  }
}

/**
 * Where a model reference points: an existing path (absolute, relative, or containing a slash),
 * else models/NAME under the working directory (or opts.modelsDir).
 */
export async function resolveModelRef(ref: string, modelsDir: string = MODELS_DIR): Promise<string> {
  if (ref.trim() === '') throw inputError('no model given', 'Pass a model name from models/ or a path to a model folder.');
  const looksLikePath = path.isAbsolute(ref) || ref.includes('/') || ref.includes(path.sep) || ref.startsWith('.');
  if (looksLikePath) return path.resolve(ref);
  const byName = path.resolve(modelsDir, ref);
  try {
    await fsp.access(byName);
    return byName;
  } catch {
    // A bare name that is also a folder in the working directory.
    try {
      if ((await fsp.stat(ref)).isDirectory()) return path.resolve(ref);
    } catch {
      // fall through to the models/ path, which gives the clearer error
    }
    return byName;
  }
}

async function readJson(file: string, what: string): Promise<unknown> {
  let text: string;
  try {
    text = await fsp.readFile(file, 'utf8');
  } catch (err) {
    if (errnoCode(err) === 'ENOENT') throw inputError(`${file}: ${what} is missing`, 'The model folder is incomplete; retrain the model or copy the whole folder.');
    throw inputError(`${file}: cannot read ${what}: ${errorMessage(err)}`);
  }
  try {
    return JSON.parse(text) as unknown;
  } catch (err) {
    throw inputError(`${file}: ${what} is not valid JSON (${errorMessage(err)})`, 'The file is damaged; retrain the model.');
  }
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

export interface LoadedModel {
  model: LayersModel;
  meta: ModelMetadata;
  dir: string;
}

/** Read only the metadata of a model folder (cheap: no TensorFlow.js). */
export async function readModelMetadata(ref: string, opts: { modelsDir?: string } = {}): Promise<{ meta: ModelMetadata; dir: string }> {
  const dir = await resolveModelRef(ref, opts.modelsDir);
  await requireFolder(dir, ref, opts.modelsDir);
  const metaFile = path.join(dir, METADATA_FILE);
  return { meta: parseMetadata(await readJson(metaFile, 'the model metadata'), metaFile), dir };
}

async function requireFolder(dir: string, ref: string, modelsDir = MODELS_DIR): Promise<void> {
  let kind: 'folder' | 'file' | 'missing' = 'missing';
  try {
    kind = (await fsp.stat(dir)).isDirectory() ? 'folder' : 'file';
  } catch {
    kind = 'missing';
  }
  if (kind === 'file') {
    // People often point at model.json (as tf.loadLayersModel wants) or at a WAV; the folder is what kws needs.
    const inside = [MODEL_FILE, WEIGHTS_FILE, METADATA_FILE].includes(path.basename(dir));
    throw inputError(
      `model '${ref}' is a file (${dir}), not a model folder`,
      `A model folder (made by \`kws train\`) holds ${MODEL_FILE}, ${WEIGHTS_FILE} and ${METADATA_FILE}; ` +
        (inside ? `give its folder instead: ${path.dirname(dir)}` : 'pass such a folder (or its name under models/), not a file.'),
    );
  }
  if (kind === 'missing') {
    let hint = `Train one with \`kws train\`, or give the path to a model folder.`;
    try {
      const names = (await fsp.readdir(path.resolve(modelsDir), { withFileTypes: true })).filter((e) => e.isDirectory() && !e.name.startsWith('.')).map((e) => e.name);
      if (names.length > 0) hint = `Models in ${modelsDir}/: ${names.sort().join(', ')}`;
    } catch {
      // no models folder: keep the generic hint
    }
    throw inputError(`model '${ref}' not found (no folder ${dir})`, hint);
  }
}

/**
 * Load a model folder by name (under models/) or path. Needs an initialised backend (pass the tf
 * from initBackend). Missing or damaged files give an inputError naming the file.
 */
export async function loadModelFolder(ref: string, tf: TF, opts: { modelsDir?: string } = {}): Promise<LoadedModel> {
  const { meta, dir } = await readModelMetadata(ref, opts);
  const modelFile = path.join(dir, MODEL_FILE);
  const json = await readJson(modelFile, 'the model topology');
  if (!isRecord(json) || !isRecord(json.modelTopology) || !Array.isArray(json.weightsManifest)) {
    throw inputError(`${modelFile}: not a TensorFlow.js layers model (modelTopology or weightsManifest missing)`, 'The file is damaged; retrain the model.');
  }
  const specs: io.WeightsManifestEntry[] = [];
  const buffers: Uint8Array[] = [];
  for (const group of json.weightsManifest as unknown[]) {
    if (!isRecord(group) || !Array.isArray(group.paths) || !Array.isArray(group.weights)) {
      throw inputError(`${modelFile}: malformed weightsManifest entry`, 'The file is damaged; retrain the model.');
    }
    specs.push(...(group.weights as io.WeightsManifestEntry[]));
    for (const p of group.paths as unknown[]) {
      if (typeof p !== 'string' || path.isAbsolute(p) || p.split(/[\\/]/).includes('..')) {
        throw inputError(`${modelFile}: weights path ${JSON.stringify(p)} must be a file inside the model folder`);
      }
      const wfile = path.join(dir, p);
      try {
        buffers.push(await fsp.readFile(wfile));
      } catch (err) {
        throw inputError(`${wfile}: cannot read the model weights (${errnoCode(err) === 'ENOENT' ? 'file missing' : errorMessage(err)})`, 'The model folder is incomplete; retrain the model or copy the whole folder.');
      }
    }
  }
  const weights = concatWeights(buffers.map((b) => b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength) as ArrayBuffer));
  const expected = specs.reduce((n, s) => n + s.shape.reduce((a, b) => a * b, 1) * (s.dtype === 'float32' || s.dtype === 'int32' ? 4 : 1), 0);
  if (specs.every((s) => s.quantization === undefined) && expected !== weights.byteLength) {
    throw inputError(`${path.join(dir, WEIGHTS_FILE)}: weights hold ${weights.byteLength} bytes but model.json describes ${expected}`, 'The weights file is truncated or belongs to another model; retrain the model.');
  }
  let model: LayersModel;
  registerKwsLayers(tf);
  try {
    model = await tf.loadLayersModel(tf.io.fromMemory({ modelTopology: json.modelTopology as object, weightSpecs: specs, weightData: weights.buffer as ArrayBuffer }));
  } catch (err) {
    throw inputError(`${modelFile}: TensorFlow.js could not build the model: ${errorMessage(err)}`, 'The model folder is damaged or was written by an incompatible tool; retrain the model.');
  }
  const out = model.outputs[0]?.shape;
  const classes = out ? out[out.length - 1] : undefined;
  if (classes !== meta.labels.length) {
    throw new UserError(`${dir}: the model has ${String(classes)} outputs but its metadata lists ${meta.labels.length} labels`, {
      exitCode: ExitCode.input,
      hint: 'The folder mixes files of different models; retrain the model.',
    });
  }
  return { model, meta, dir };
}
