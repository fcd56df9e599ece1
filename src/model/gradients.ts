/**
 * One thread's part of a training step: the gradients of its share of a mini-batch.
 *
 * The loss is the batch's mean categorical cross-entropy (what model.trainOnBatch minimises), written
 * as the sum over this share divided by the size of the whole batch. So the gradients of all shares
 * add up to the batch's gradient, and the gradient that reaches a batch-norm layer has the same scale
 * on every thread, as its statistics and their gradients are summed across threads
 * (kernels/batchnorm.ts). With one share this is exactly one trainOnBatch step's gradient.
 *
 * Owner: training.
 */
import type { LayersModel, Tensor, Variable } from '@tensorflow/tfjs';
import type { TF } from './backend';

export interface ShareResult {
  /** Gradients in model.trainableWeights order. */
  grads: Tensor[];
  /** Sum of the share's per-example losses. */
  lossSum: number;
  /** Examples of the share whose most probable class is the label. */
  correct: number;
}

/**
 * Gradients of sum(loss over this share) / batchRows. `x` holds the share's examples, `labels` their
 * classes; targets are one-hot, smoothed by `labelSmoothing` (eps/K everywhere, 1 - eps + eps/K on the label).
 */
export function shareGradients(tf: TF, model: LayersModel, x: Tensor, labels: Int32Array, numClasses: number, batchRows: number, labelSmoothing = 0): ShareResult {
  const vars = model.trainableWeights.map((w) => w.read() as Variable);
  let lossSum = 0;
  let correct = 0;
  const { value, grads } = tf.variableGrads(() => {
    const hot = tf.oneHot(tf.tensor1d(labels, 'int32'), numClasses).toFloat();
    const y = labelSmoothing > 0 ? hot.mul(1 - labelSmoothing).add(labelSmoothing / numClasses) : hot;
    const probs = model.apply(x, { training: true }) as Tensor;
    const perExample = tf.metrics.categoricalCrossentropy(y, probs);
    const sum = tf.sum(perExample);
    lossSum = sum.dataSync()[0] as number;
    correct = tf.sum(tf.cast(tf.equal(tf.argMax(probs, -1), tf.tensor1d(labels, 'int32')), 'int32')).dataSync()[0] as number;
    return tf.div(sum, batchRows) as ReturnType<TF['scalar']>;
  }, vars);
  value.dispose();
  return { grads: vars.map((v) => grads[v.name] as Tensor), lossSum, correct };
}
