/**
 * Batch-norm recalibration ("precise BN"): after training, replace every BatchNormalization
 * layer's moving mean and variance by the exact statistics of its input over a set of examples.
 *
 * Why: during training the moving statistics are an exponential average over the last ~100
 * augmented mini-batches (momentum 0.99), taken while the weights below were still changing, and
 * on clips with added noise, speed changes and masks that a user's microphone does not add.
 * Recomputed once over the clean training clips with the final weights, they did better on
 * unseen voices in 8 of 9 runs measured, about half a point on average (docs/training.md).
 *
 * Layers are done in order, each in inference mode, so a layer sees its input as the model will
 * compute it after the layers below have been recalibrated.
 *
 * Owner: training.
 */
import type { LayersModel, SymbolicTensor, Tensor } from '@tensorflow/tfjs';
import type { TF } from './backend';

/**
 * Recompute the moving statistics of every BatchNormalization layer of `model` over `count`
 * examples of `features` (count * product(inputShape) floats, normalised as the model's input).
 * Returns how many layers were recalibrated.
 */
export function recalibrateBatchNorm(tf: TF, model: LayersModel, features: Float32Array, count: number, inputShape: number[], batch = 128): number {
  const rowSize = inputShape.reduce((a, b) => a * b, 1);
  if (count < 1 || features.length < count * rowSize) throw new RangeError(`recalibrateBatchNorm needs ${count} examples of ${rowSize} floats, got ${features.length} floats`);
  const layers = model.layers.filter((l) => l.getClassName() === 'BatchNormalization');
  for (const layer of layers) {
    const input = layer.input as SymbolicTensor;
    const channels = input.shape[input.shape.length - 1];
    if (typeof channels !== 'number') throw new RangeError(`${layer.name}: its input has no fixed number of channels`);
    const probe = tf.model({ inputs: model.inputs, outputs: input });
    // Float64 sums: a few million activations per channel would lose digits in float32.
    const sum = new Float64Array(channels);
    const sumSq = new Float64Array(channels);
    let n = 0;
    for (let start = 0; start < count; start += batch) {
      const k = Math.min(batch, count - start);
      const out = tf.tidy(() => probe.predict(tf.tensor(features.subarray(start * rowSize, (start + k) * rowSize), [k, ...inputShape])) as Tensor);
      const values = out.dataSync();
      out.dispose();
      for (let i = 0; i < values.length; i++) {
        const v = values[i] as number;
        const c = i % channels;
        sum[c] = (sum[c] as number) + v;
        sumSq[c] = (sumSq[c] as number) + v * v;
      }
      n += values.length / channels;
    }
    const mean = Array.from(sum, (s) => s / n);
    const variance = Array.from(sumSq, (s, c) => Math.max(0, s / n - (mean[c] as number) ** 2));
    // getWeights() is [gamma?, beta?, movingMean, movingVariance]: the last two are the statistics.
    // It returns the layer's own variables' tensors, not copies: only `fresh` may be disposed.
    const weights = layer.getWeights();
    const fresh = [tf.tensor1d(mean), tf.tensor1d(variance)];
    layer.setWeights([...weights.slice(0, -2), ...fresh]);
    tf.dispose(fresh);
  }
  return layers.length;
}
