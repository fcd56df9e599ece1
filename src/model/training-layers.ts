/**
 * Stock Keras layer classes with a faster training path, registered under the stock class names.
 * Each keeps the stock name, configuration and weights, so model.json files stay standard
 * Keras/TensorFlow.js layers models that any TensorFlow.js program loads; outside training they
 * are the stock layers.
 *
 * - BatchNormalization: in training, tfjs-layers' version is a chain of a dozen element-wise ops
 *   forwards and more backwards; kws's runs the two kernels of kernels/batchnorm.ts instead (one
 *   pass each way), on the WASM and CPU backends. tfjs-node and any configuration the kernels do not
 *   cover (normalising over another axis than the last, no scale or no centre) take the stock path.
 * - Dropout: tfjs-layers passes the layer's fixed seed to tf.dropout on every call, which draws the
 *   same mask every time: with a seed (kws seeds every layer, for reproducible runs) each batch row
 *   got one mask for the whole training. kws's draws a fresh mask per call from a generator seeded by
 *   the layer's seed, so a run stays reproducible and the masks vary.
 * - Conv2D: tfjs-layers always calls tf.fused.conv2d, whose gradient (a customGrad) computes the
 *   input gradient eagerly, even for a model's first layer, whose input is the data: 11 % of a
 *   training step of the notebooks' MFCC model. In training kws calls tf.conv2d, bias and
 *   activation separately; their registered gradients are computed only where needed.
 * - Conv1D with a bias and ReLU (the notebooks' raw model): tfjs-layers adds the bias and applies
 *   the ReLU as two ops, two passes over the output forwards and three backwards; kws's runs one
 *   kernel each way (kernels/bias-relu.ts), in training and inference alike, on WASM and CPU.
 *
 * Owner: model core.
 */
import type { Tensor, layers as tfLayers } from '@tensorflow/tfjs';
import type { TF } from './backend';
import { BN_TRAIN, batchNormKernelsAvailable, registerBatchNormKernels } from './kernels/batchnorm';
import { BIAS_RELU, biasReluAvailable, registerBiasReluKernels } from './kernels/bias-relu';
import { createRng, type Rng } from '../util/rng';

type BatchNormArgs = NonNullable<Parameters<TF['layers']['batchNormalization']>[0]>;
type Kwargs = Record<string, unknown>;

/** The fields of tfjs-layers' BatchNormalization that the training path reads and updates. */
interface BatchNormState {
  axis: number;
  momentum: number;
  epsilon: number;
  center: boolean;
  scale: boolean;
  gamma?: LayerVariableLike;
  beta?: LayerVariableLike;
  movingMean: LayerVariableLike;
  movingVariance: LayerVariableLike;
}

interface LayerVariableLike {
  read(): Tensor;
  write(value: Tensor): void;
}

/** A layer class as the serialisation registry needs it: constructible, with the inherited static fromConfig. */
type Conv2DArgs = Parameters<TF['layers']['conv2d']>[0];
type Conv1DArgs = Parameters<TF['layers']['conv1d']>[0];
type DropoutArgs = Parameters<TF['layers']['dropout']>[0];

/** The fields of tfjs-layers' Dropout that the training path reads. */
interface DropoutState {
  rate: number;
  seed?: number;
  noiseShape?: Array<number | null>;
}

/** The fields of tfjs-layers' Conv1D and Conv2D that the faster paths read. */
interface ConvState {
  rank: number;
  kernel: LayerVariableLike;
  bias: LayerVariableLike | null;
  strides: number[];
  padding: string;
  dataFormat: string;
  dilationRate: number[];
  activation: { apply(x: Tensor): Tensor; getClassName(): string } | null;
}

type LayerCtor<A> = (new (args: A) => tfLayers.Layer) & Pick<typeof tfLayers.Layer, 'fromConfig'>;

export interface TrainingLayerFactories {
  batchNormalization(args?: BatchNormArgs): tfLayers.Layer;
  conv1d(args: Conv1DArgs): tfLayers.Layer;
  conv2d(args: Conv2DArgs): tfLayers.Layer;
  dropout(args: DropoutArgs): tfLayers.Layer;
}

const registered = new WeakMap<TF, TrainingLayerFactories>();

let replicaStream = 0;

/**
 * Which training thread this is (replicas.ts): seeded layers draw their random masks from a stream
 * of their own per thread, so two threads' shares of a batch do not get the same masks row for row.
 * 0, the default, is the main thread, whose draws are those of training on one thread.
 */
export function setReplicaStream(index: number): void {
  replicaStream = index;
}

/** The seed a seeded layer's generator starts from on this thread. */
export function streamSeed(seed: number): number {
  return (seed + 0x9e3779b1 * replicaStream) >>> 0;
}

/** Register the classes (replacing the stock ones in tf's serialisation registry); returns their factories. */
export function registerTrainingLayers(tf: TF): TrainingLayerFactories {
  const known = registered.get(tf);
  if (known) return known;
  registerBatchNormKernels(tf);
  registerBiasReluKernels(tf);

  /** Whether a layer's bias and ReLU run as kws's one kernel on this backend. */
  const fusesBiasRelu = (s: ConvState): boolean => s.bias !== null && s.activation?.getClassName() === 'relu' && biasReluAvailable(tf);

  /** activation(y + bias), the bias and a ReLU as one kernel where it runs. */
  const biasActivation = (y: Tensor, s: ConvState): Tensor => {
    if (s.bias && fusesBiasRelu(s)) return tf.engine().runKernel(BIAS_RELU, { x: y, bias: s.bias.read() }, {}) as Tensor;
    const biased = s.bias ? tf.add(y, s.bias.read()) : y;
    return s.activation ? s.activation.apply(biased) : biased;
  };

  const StockBatchNorm = tf.layers.batchNormalization({}).constructor as LayerCtor<BatchNormArgs>;

  class BatchNormalization extends StockBatchNorm {
    static className = 'BatchNormalization';

    override call(inputs: Tensor | Tensor[], kwargs: Kwargs): Tensor | Tensor[] {
      const x = Array.isArray(inputs) ? inputs[0] : inputs;
      const s = this as unknown as BatchNormState;
      const axis = s.axis >= 0 ? s.axis : s.axis + (x?.rank ?? 0);
      const fused = kwargs['training'] === true && x !== undefined && axis === x.rank - 1 && s.gamma && s.beta && batchNormKernelsAvailable(tf);
      if (!fused || !s.gamma || !s.beta || !x) return super.call(inputs, kwargs);
      const gamma = s.gamma;
      const beta = s.beta;
      return tf.tidy(() => {
        const [y, mean, variance] = tf.engine().runKernel(BN_TRAIN, { x, gamma: gamma.read(), beta: beta.read() }, { epsilon: s.epsilon }) as [Tensor, Tensor, Tensor];
        // The stock layer's moving averages: moving -= (moving - batch) * (1 - momentum).
        const decay = 1 - s.momentum;
        for (const [v, batch] of [
          [s.movingMean, mean],
          [s.movingVariance, variance],
        ] as const) {
          tf.tidy(() => {
            const orig = v.read();
            v.write(tf.sub(orig, tf.mul(tf.sub(orig, batch), decay)));
          });
        }
        return y;
      });
    }
  }

  /** activation(conv(x) + bias) on kws's path when `use` holds and the layout is standard; else null (the stock call). */
  const fasterConv = (s: ConvState, inputs: Tensor | Tensor[], use: boolean, conv: (x: Tensor) => Tensor): Tensor | null => {
    const x = Array.isArray(inputs) ? inputs[0] : inputs;
    const standard = s.dataFormat === 'channelsLast' && (s.padding === 'same' || s.padding === 'valid');
    if (!use || !standard || !x) return null;
    return tf.tidy(() => biasActivation(conv(x), s));
  };

  const StockConv2D = tf.layers.conv2d({ filters: 1, kernelSize: 1 }).constructor as LayerCtor<Conv2DArgs>;

  class Conv2D extends StockConv2D {
    static className = 'Conv2D';

    override call(inputs: Tensor | Tensor[], kwargs: Kwargs): Tensor | Tensor[] {
      const s = this as unknown as ConvState;
      const conv = (x: Tensor): Tensor =>
        tf.conv2d(x as Parameters<TF['conv2d']>[0], s.kernel.read() as Parameters<TF['conv2d']>[1], s.strides as [number, number], s.padding as 'same' | 'valid', 'NHWC', s.dilationRate as [number, number]);
      return fasterConv(s, inputs, kwargs['training'] === true && s.rank === 2, conv) ?? super.call(inputs, kwargs);
    }
  }

  const StockConv1D = tf.layers.conv1d({ filters: 1, kernelSize: 1 }).constructor as LayerCtor<Conv1DArgs>;

  class Conv1D extends StockConv1D {
    static className = 'Conv1D';

    override call(inputs: Tensor | Tensor[], kwargs: Kwargs): Tensor | Tensor[] {
      const s = this as unknown as ConvState;
      const fused = s.rank === 1 && fusesBiasRelu(s);
      const conv = (x: Tensor): Tensor =>
        tf.conv1d(x as Parameters<TF['conv1d']>[0], s.kernel.read() as Parameters<TF['conv1d']>[1], s.strides[0] as number, s.padding as 'same' | 'valid', 'NWC', s.dilationRate[0] as number);
      return fasterConv(s, inputs, fused, conv) ?? super.call(inputs, kwargs);
    }
  }

  const StockDropout = tf.layers.dropout({ rate: 0.5 }).constructor as LayerCtor<DropoutArgs>;

  class Dropout extends StockDropout {
    static className = 'Dropout';
    private draws: Rng | null = null;

    override call(inputs: Tensor | Tensor[], kwargs: Kwargs): Tensor | Tensor[] {
      const x = Array.isArray(inputs) ? inputs[0] : inputs;
      const s = this as unknown as DropoutState;
      if (kwargs['training'] !== true || !x || !(s.rate > 0 && s.rate < 1) || s.seed === undefined) return super.call(inputs, kwargs);
      this.draws ??= createRng(streamSeed(s.seed));
      const seed = this.draws.int(2 ** 31);
      const noiseShape = s.noiseShape ? s.noiseShape.map((d, i) => d ?? (x.shape[i] as number)) : undefined;
      return tf.tidy(() => tf.dropout(x, s.rate, noiseShape, seed));
    }
  }

  tf.serialization.registerClass(BatchNormalization);
  tf.serialization.registerClass(Conv2D);
  tf.serialization.registerClass(Conv1D);
  tf.serialization.registerClass(Dropout);
  const factories: TrainingLayerFactories = {
    batchNormalization: (args = {}) => new BatchNormalization(args),
    conv1d: (args) => new Conv1D(args),
    conv2d: (args) => new Conv2D(args),
    dropout: (args) => new Dropout(args),
  };
  registered.set(tf, factories);
  return factories;
}
