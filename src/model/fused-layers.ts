/**
 * Stock Keras layer classes with a faster training path, registered under the stock class names.
 *
 * BatchNormalization: in training, tfjs-layers' version is a chain of a dozen element-wise ops
 * forwards and more backwards; kws's runs the two kernels of kernels/batchnorm.ts instead (one pass
 * each way), on the WASM and CPU backends. Inference, tfjs-node and any configuration the kernels do
 * not cover (normalising over another axis than the last, no scale or no centre) take the stock path.
 * The class keeps the stock name, configuration and weights, so model.json files stay standard
 * Keras/TensorFlow.js layers models that any TensorFlow.js program loads.
 *
 * Owner: model core.
 */
import type { Tensor, layers as tfLayers } from '@tensorflow/tfjs';
import type { TF } from './backend';
import { BN_TRAIN, batchNormKernelsAvailable, registerBatchNormKernels } from './kernels/batchnorm';

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
type LayerCtor<A> = (new (args: A) => tfLayers.Layer) & Pick<typeof tfLayers.Layer, 'fromConfig'>;

export interface FusedLayerFactories {
  batchNormalization(args?: BatchNormArgs): tfLayers.Layer;
}

const registered = new WeakMap<TF, FusedLayerFactories>();

/** Register the classes (replacing the stock ones in tf's serialisation registry); returns their factories. */
export function registerFusedLayers(tf: TF): FusedLayerFactories {
  const known = registered.get(tf);
  if (known) return known;
  registerBatchNormKernels(tf);

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

  tf.serialization.registerClass(BatchNormalization);
  const factories: FusedLayerFactories = {
    batchNormalization: (args = {}) => new BatchNormalization(args),
  };
  registered.set(tf, factories);
  return factories;
}
