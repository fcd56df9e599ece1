/**
 * The training loop: mini-batches in a seeded order, fresh augmentation each epoch,
 * a warm-up then cosine-decayed learning rate, a validation pass after every
 * epoch, and optionally batch-norm statistics recomputed on clean clips at the end.
 * It knows nothing about files; src/model/pipeline.ts feeds it arrays.
 *
 * Why not model.fit(): fit() shuffles with Math.random (not reproducible) and
 * cannot hand us new augmented features per epoch without re-creating tensors
 * for the whole set at once. Why not trainOnBatch() either: a step's gradients may come from
 * several threads (replicas.ts), so the loop computes them (gradients.ts) and applies the
 * optimiser itself.
 *
 * Owner: training.
 */
import type { LayersModel, Tensor, Variable } from '@tensorflow/tfjs';
import type { TF } from './backend';
import { createRng, shuffleInPlace } from '../util/rng';
import { recalibrateBatchNorm } from './batchnorm';
import { shareGradients, type ShareResult } from './gradients';
import { predictRows, type Replicas } from './replicas';

export interface EpochLog {
  /** 1-based member of an ensemble (absent for a single model). */
  member?: number;
  epoch: number;
  epochs: number;
  loss: number;
  acc: number;
  valLoss: number | null;
  valAcc: number | null;
  learningRate: number;
  seconds: number;
}

export interface TrainLoopInput {
  tf: TF;
  model: LayersModel;
  inputShape: number[];
  numClasses: number;
  epochs: number;
  batchSize: number;
  learningRate: number;
  seed: number;
  /** 'warmup-cosine' (default) or 'constant' (the notebooks' plain Adam). */
  schedule?: 'warmup-cosine' | 'constant';
  /**
   * Label smoothing epsilon (default 0): targets become 1 - eps + eps/K for the true class and
   * eps/K elsewhere, which keeps the net from becoming over-confident on the training voices.
   */
  labelSmoothing?: number;
  /** Training features for epoch `e` (0-based): count * rowSize floats, normalised. */
  trainFeatures: (epoch: number) => Float32Array | Promise<Float32Array>;
  trainLabels: Int32Array;
  /**
   * When given (count * rowSize floats, normalised): after the last epoch's steps and before its
   * validation pass, every batch-norm layer's statistics are recomputed over these examples
   * (src/model/batchnorm.ts). The pipeline passes the un-augmented training clips.
   */
  recalibrationFeatures?: Float32Array;
  valFeatures: Float32Array;
  valLabels: Int32Array;
  onEpoch?: (log: EpochLog) => void;
  onBatch?: (done: number, total: number) => void;
  /**
   * Worker threads that share every mini-batch with this one (replicas.ts), or none to train on
   * this thread alone. Their copies of the model are (re)set to `model` before the first step.
   */
  replicas?: Replicas | null;
}

export interface TrainLoopResult {
  history: EpochLog[];
  /** Softmax outputs for the validation clips after the last epoch (valCount * numClasses). */
  valProbs: Float32Array;
}

/** Warm up linearly over the first epoch, then decay along a cosine to 5 % of the peak. */
export function learningRateAt(step: number, stepsPerEpoch: number, totalSteps: number, peak: number): number {
  const warm = Math.max(1, Math.min(stepsPerEpoch, Math.floor(totalSteps / 4)));
  if (step < warm) return (peak * (step + 1)) / warm;
  const t = (step - warm) / Math.max(1, totalSteps - warm);
  return peak * (0.05 + 0.95 * 0.5 * (1 + Math.cos(Math.PI * Math.min(1, t))));
}

/** Mean cross-entropy and accuracy of softmax outputs against integer labels. */
export function lossAndAccuracy(probs: Float32Array, labels: Int32Array, numClasses: number): { loss: number; acc: number } {
  let loss = 0;
  let correct = 0;
  for (let i = 0; i < labels.length; i++) {
    const y = labels[i] as number;
    let best = 0;
    for (let c = 1; c < numClasses; c++) if ((probs[i * numClasses + c] as number) > (probs[i * numClasses + best] as number)) best = c;
    if (best === y) correct++;
    loss -= Math.log(Math.max(1e-7, probs[i * numClasses + y] as number));
  }
  const n = Math.max(1, labels.length);
  return { loss: loss / n, acc: correct / n };
}

export async function trainLoop(input: TrainLoopInput): Promise<TrainLoopResult> {
  const { tf, model, inputShape, numClasses, epochs, batchSize, seed } = input;
  const rowSize = inputShape.reduce((a, b) => a * b, 1);
  const smoothing = input.labelSmoothing ?? 0;
  if (!(smoothing >= 0 && smoothing < 1)) throw new RangeError(`label smoothing must be in [0, 1), got ${smoothing}`);
  const nTrain = input.trainLabels.length;
  const nVal = input.valLabels.length;
  const optimizer = tf.train.adam(input.learningRate);
  model.compile({ optimizer, loss: 'categoricalCrossentropy', metrics: ['accuracy'] });
  const replicas = input.replicas ?? null;
  if (replicas) await replicas.setModel(model);
  const variableNames = model.trainableWeights.map((w) => (w.read() as Variable).name);
  // Adam reads its learningRate field on every step; the schedule sets it per batch.
  const setLr = (lr: number): void => {
    (optimizer as unknown as { learningRate: number }).learningRate = lr;
  };
  const rng = createRng(seed ^ 0x5eed);
  const stepsPerEpoch = Math.ceil(nTrain / batchSize);
  const totalSteps = stepsPerEpoch * epochs;
  const history: EpochLog[] = [];
  let valProbs: Float32Array = new Float32Array(0);
  let step = 0;
  for (let epoch = 0; epoch < epochs; epoch++) {
    const t0 = Date.now();
    const x = await input.trainFeatures(epoch);
    const order = shuffleInPlace(Array.from({ length: nTrain }, (_, i) => i), rng);
    let lossSum = 0;
    let accSum = 0;
    let lr = input.learningRate;
    for (let b = 0; b < stepsPerEpoch; b++) {
      const idx = order.slice(b * batchSize, Math.min(nTrain, (b + 1) * batchSize));
      const xb = new Float32Array(idx.length * rowSize);
      const yb = new Int32Array(idx.length);
      idx.forEach((src, j) => {
        xb.set(x.subarray(src * rowSize, (src + 1) * rowSize), j * rowSize);
        yb[j] = input.trainLabels[src] as number;
      });
      lr = input.schedule === 'constant' ? input.learningRate : learningRateAt(step, stepsPerEpoch, totalSteps, input.learningRate);
      setLr(lr);
      let res: ShareResult;
      if (replicas) {
        res = await replicas.step(xb, inputShape, yb, numClasses, smoothing);
      } else {
        const xt = tf.tensor(xb, [idx.length, ...inputShape]);
        try {
          res = shareGradients(tf, model, xt, yb, numClasses, idx.length, smoothing);
        } finally {
          xt.dispose();
        }
      }
      optimizer.applyGradients(variableNames.map((name, i) => ({ name, tensor: res.grads[i] as Tensor })));
      tf.dispose(res.grads);
      replicas?.markWeightsChanged();
      lossSum += res.lossSum;
      accSum += res.correct;
      step++;
      input.onBatch?.(b + 1, stepsPerEpoch);
    }
    const recal = input.recalibrationFeatures;
    if (recal && epoch === epochs - 1) recalibrateBatchNorm(tf, model, recal, Math.floor(recal.length / rowSize), inputShape);
    let valLoss: number | null = null;
    let valAcc: number | null = null;
    if (nVal > 0) {
      valProbs = replicas ? await replicas.predict(input.valFeatures, nVal, inputShape) : predictRows(tf, model, input.valFeatures, nVal, inputShape);
      const m = lossAndAccuracy(valProbs, input.valLabels, numClasses);
      valLoss = m.loss;
      valAcc = m.acc;
    }
    const log: EpochLog = {
      epoch: epoch + 1,
      epochs,
      loss: lossSum / Math.max(1, nTrain),
      acc: accSum / Math.max(1, nTrain),
      valLoss,
      valAcc,
      learningRate: lr,
      seconds: (Date.now() - t0) / 1000,
    };
    history.push(log);
    input.onEpoch?.(log);
  }
  return { history, valProbs };
}
