/**
 * kws's own Keras-style layers, which TensorFlow.js has none for: the steps of the default raw
 * model's log-mel front end (power, log, the fixed normalisation) and the in-network SpecAugment
 * (docs/training.md). Models that use them name them by class in model.json ('KwsPowerSpectrum',
 * 'KwsLogCompression', 'KwsFixedStandardization', 'KwsSpecAugment'); loading such a model needs
 * registerKwsLayers(tf) first, which store.ts does before every load.
 *
 * The classes must extend the Layer class of the very TensorFlow.js instance that builds or
 * loads the model, which is only known once backend.ts has loaded it; hence a factory,
 * memoised per instance.
 *
 * Owner: model core.
 */
import type { LayerVariable, Tensor, layers as tfLayers } from '@tensorflow/tfjs';
import type { TF } from './backend';
import { createRng, type Rng } from '../util/rng';
import { streamSeed } from './training-layers';
import { drawRowShift, shiftedSource } from './augment';

type Shape = (number | null)[];

export interface KwsLayerFactories {
  /** [..., 2K] (K real parts then K imaginary parts) -> [..., K]: re^2 + im^2. */
  powerSpectrum(config?: { name?: string }): tfLayers.Layer;
  /** log(x + epsilon), element-wise. */
  logCompression(config?: { name?: string; epsilon?: number }): tfLayers.Layer;
  /** SpecAugment on [frames, bands] activations while training; the identity otherwise. */
  specAugment(config: SpecAugmentConfig): tfLayers.Layer;
  /** (x - mean) * scale, with a frozen mean and scale per input position (all axes but the batch); the identity until set. */
  fixedStandardization(config?: { name?: string }): tfLayers.Layer;
}

export interface SpecAugmentConfig {
  name?: string;
  /** Largest run of frames zeroed per example (one run). */
  maxFrames: number;
  /** Largest run of bands zeroed per example (one run). */
  maxBands: number;
  /** Largest shift of all bands either way per example, before the masks (augment.ts's maxRowShift); default 0. */
  maxShift?: number;
  seed: number;
}

const registered = new WeakMap<TF, KwsLayerFactories>();

function single(inputs: Tensor | Tensor[]): Tensor {
  return Array.isArray(inputs) ? (inputs[0] as Tensor) : inputs;
}

/** Register kws's layer classes with `tf`'s serialisation registry; returns their factories. */
export function registerKwsLayers(tf: TF): KwsLayerFactories {
  const known = registered.get(tf);
  if (known) return known;

  class PowerSpectrum extends tf.layers.Layer {
    static className = 'KwsPowerSpectrum';
    override computeOutputShape(inputShape: Shape | Shape[]): Shape {
      const s = (Array.isArray(inputShape[0]) ? inputShape[0] : inputShape) as Shape;
      const last = s[s.length - 1];
      if (typeof last !== 'number' || last % 2 !== 0) throw new RangeError(`KwsPowerSpectrum needs an even number of channels, got ${String(last)}`);
      return [...s.slice(0, -1), last / 2];
    }
    override call(inputs: Tensor | Tensor[]): Tensor {
      return tf.tidy(() => {
        const [re, im] = tf.split(single(inputs), 2, -1) as [Tensor, Tensor];
        return tf.add(tf.square(re), tf.square(im));
      });
    }
  }

  class LogCompression extends tf.layers.Layer {
    static className = 'KwsLogCompression';
    readonly epsilon: number;
    constructor(config: { name?: string; epsilon?: number } = {}) {
      super(config);
      this.epsilon = config.epsilon ?? 1e-6;
    }
    override computeOutputShape(inputShape: Shape | Shape[]): Shape {
      return (Array.isArray(inputShape[0]) ? inputShape[0] : inputShape) as Shape;
    }
    override call(inputs: Tensor | Tensor[]): Tensor {
      return tf.tidy(() => tf.log(tf.add(tf.relu(single(inputs)), this.epsilon)));
    }
    override getConfig(): ReturnType<tfLayers.Layer['getConfig']> {
      return { ...super.getConfig(), epsilon: this.epsilon };
    }
  }

  /**
   * The masks of augment.ts's maskFeatures, inside the model: for the default models, which all
   * make their mel bands inside the network (raw: its front end; mfcc: the envelope; spectrogram:
   * the lifter), so the masks fall on the bands the CNN sees. Zero is the mean after
   * the batch normalisation in front of it. Draws come from a seeded generator, so a training
   * run is reproducible; inference (training falsy) passes the input through.
   */
  class SpecAugment extends tf.layers.Layer {
    static className = 'KwsSpecAugment';
    readonly maxFrames: number;
    readonly maxBands: number;
    readonly maxShift: number;
    readonly seed: number;
    private readonly rng: Rng;
    constructor(config: SpecAugmentConfig) {
      super(config);
      this.maxFrames = config.maxFrames;
      this.maxBands = config.maxBands;
      this.maxShift = config.maxShift ?? 0;
      this.seed = config.seed;
      this.rng = createRng(streamSeed(config.seed));
    }
    override computeOutputShape(inputShape: Shape | Shape[]): Shape {
      return (Array.isArray(inputShape[0]) ? inputShape[0] : inputShape) as Shape;
    }
    override call(inputs: Tensor | Tensor[], kwargs: { training?: boolean }): Tensor {
      const x = single(inputs);
      if (kwargs['training'] !== true) return x;
      const [batch, frames, bands] = x.shape as [number, number, number];
      const mask = new Float32Array(batch * frames * bands).fill(1);
      // The shift as a product with a 0/1 matrix per example, whose gradient the backends have.
      const shifts = this.maxShift > 0 ? new Float32Array(batch * bands * bands) : null;
      for (let e = 0; e < batch; e++) {
        if (shifts) {
          const shift = drawRowShift(this.rng, this.maxShift);
          for (let b = 0; b < bands; b++) shifts[(e * bands + shiftedSource(b, shift, bands)) * bands + b] = 1;
        }
        const w = this.rng.int(Math.min(this.maxFrames, frames) + 1);
        const t0 = this.rng.int(frames - w + 1);
        mask.fill(0, (e * frames + t0) * bands, (e * frames + t0 + w) * bands);
        const h = this.rng.int(Math.min(this.maxBands, bands) + 1);
        const b0 = this.rng.int(bands - h + 1);
        for (let t = 0; t < frames; t++) mask.fill(0, (e * frames + t) * bands + b0, (e * frames + t) * bands + b0 + h);
      }
      return tf.tidy(() => {
        const shifted = shifts ? tf.matMul(x, tf.tensor3d(shifts, [batch, bands, bands])) : x;
        return tf.mul(shifted, tf.tensor3d(mask, [batch, frames, bands]));
      });
    }
    override getConfig(): ReturnType<tfLayers.Layer['getConfig']> {
      // maxShift only when set, so the models saved before it existed keep their exact topology.
      return { ...super.getConfig(), maxFrames: this.maxFrames, maxBands: this.maxBands, ...(this.maxShift > 0 ? { maxShift: this.maxShift } : {}), seed: this.seed };
    }
  }

  /**
   * (x - mean) * scale with one frozen mean and scale per input position: the raw default's
   * per-frame, per-band normalisation of its log-mel by training statistics (architectures.ts),
   * which the spectrogram model's features get outside the network. Weights, so they travel in
   * weights.bin like the batch norms' moving statistics; not trainable. Mean 0 and scale 1 (the
   * identity) until set.
   */
  class FixedStandardization extends tf.layers.Layer {
    static className = 'KwsFixedStandardization';
    private stats: { mean: LayerVariable; scale: LayerVariable } | null = null;
    override build(inputShape: Shape | Shape[]): void {
      const s = (Array.isArray(inputShape[0]) ? inputShape[0] : inputShape) as Shape;
      const shape = s.slice(1);
      if (shape.some((d) => typeof d !== 'number')) throw new RangeError(`KwsFixedStandardization needs a fully known input shape, got [${s.join(', ')}]`);
      const dims = shape as number[];
      this.stats = {
        mean: this.addWeight('mean', dims, 'float32', tf.initializers.zeros(), undefined, false),
        scale: this.addWeight('scale', dims, 'float32', tf.initializers.ones(), undefined, false),
      };
      this.built = true;
    }
    override computeOutputShape(inputShape: Shape | Shape[]): Shape {
      return (Array.isArray(inputShape[0]) ? inputShape[0] : inputShape) as Shape;
    }
    override call(inputs: Tensor | Tensor[]): Tensor {
      const stats = this.stats;
      if (!stats) throw new Error('KwsFixedStandardization called before it was built');
      return tf.tidy(() => tf.mul(tf.sub(single(inputs), stats.mean.read()), stats.scale.read()));
    }
  }

  tf.serialization.registerClass(PowerSpectrum);
  tf.serialization.registerClass(LogCompression);
  tf.serialization.registerClass(SpecAugment);
  tf.serialization.registerClass(FixedStandardization);
  const factories: KwsLayerFactories = {
    powerSpectrum: (config = {}) => new PowerSpectrum(config),
    logCompression: (config = {}) => new LogCompression(config),
    specAugment: (config) => new SpecAugment(config),
    fixedStandardization: (config = {}) => new FixedStandardization(config),
  };
  registered.set(tf, factories);
  return factories;
}
