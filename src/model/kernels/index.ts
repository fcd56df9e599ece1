/**
 * kws's training kernels for the TensorFlow.js WASM backend.
 *
 * The stock WASM backend (4.22) lacks Conv2DBackpropFilter, so training any convolutional model on it
 * throws; and its convolutions are slow for kws's shapes. registerTrainingKernels() adds the missing
 * kernel and (unless told not to) replaces Conv2D, FusedConv2D and Conv2DBackpropInput with
 * im2col + GEMM versions (see wasm_conv.ts and docs/backends.md for the measurements behind this),
 * and stock kernels that are slow on training's shapes with faster ones (wasm_misc.ts). Every other
 * kernel training needs (FusedBatchNorm, Adam's element-wise ops, softmax, dropout, Conv1D via
 * Conv2D, global pooling via Max) already exists in the WASM backend. kws's own fused kernels for
 * batch norm and a convolution's bias and ReLU (batchnorm.ts, bias-relu.ts) are registered by the
 * layers that use them (training-layers.ts).
 *
 * Owner: model core.
 */
import type { KernelConfig, TensorInfo, NamedAttrMap } from '@tensorflow/tfjs';
import type { TF } from '../backend';
import { conv2dForwardWasm, setStockConv2D, wasmConvKernels, type WasmBackendLike } from './wasm_conv';
import { batchMatMulKernel, tileKernel, maxPoolGradKernel, sumKernel, identityKernel, castKernel, equalKernel } from './wasm_misc';

export interface TrainingKernelOptions {
  /** Replace the stock forward/backprop-input convolutions too (default true: faster, see docs/backends.md). */
  replaceConvolutions?: boolean;
  /** Replace the slow stock BatchMatMul (transposed operands), Tile, MaxPoolGrad, Sum and broadcasting Equal (default true). */
  replaceSlowKernels?: boolean;
}

const SLOW_KERNELS = ['BatchMatMul', 'Tile', 'MaxPoolGrad', 'Sum', 'Identity', 'Cast', 'Equal'] as const;

const stock = new Map<string, KernelConfig>();
/** Kernel functions kws registered, so they are never mistaken for stock ones. */
const ours = new WeakSet<object>();
let registered: string[] = [];

function hasKernel(tf: TF, name: string): boolean {
  return tf.getKernelsForBackend('wasm').some((k) => k.kernelName === name);
}

function replace(tf: TF, config: KernelConfig): void {
  if (hasKernel(tf, config.kernelName)) {
    const current = tf.getKernel(config.kernelName, 'wasm');
    if (!stock.has(config.kernelName) && !ours.has(current.kernelFunc)) stock.set(config.kernelName, current);
    tf.unregisterKernel(config.kernelName, 'wasm');
  }
  ours.add(config.kernelFunc);
  tf.registerKernel(config);
}

/** Put the stock kernel back (if kws replaced it). */
function restore(tf: TF, name: string): void {
  const orig = stock.get(name);
  if (orig && tf.getKernel(name, 'wasm') !== orig) {
    tf.unregisterKernel(name, 'wasm');
    tf.registerKernel(orig);
  }
}

/** The stock kernel, captured the first time kws looks at it. */
function stockKernel(tf: TF, name: string): KernelConfig {
  let k = stock.get(name);
  if (!k) {
    k = tf.getKernel(name, 'wasm');
    stock.set(name, k);
  }
  return k;
}

type Activation = 'linear' | 'relu' | 'relu6' | 'leakyrelu' | 'sigmoid' | 'elu';
const SUPPORTED_ACTIVATIONS = new Set<string>(['linear', 'relu', 'relu6', 'leakyrelu', 'sigmoid', 'elu']);

function applyBiasActivation(y: Float32Array, bias: Float32Array | null, channels: number, activation: Activation, alpha: number): void {
  const n = y.length;
  if (bias) {
    if (bias.length === channels) {
      for (let i = 0; i < n; i += channels) for (let c = 0; c < channels; c++) y[i + c] = (y[i + c] as number) + (bias[c] as number);
    } else if (bias.length === 1) {
      const b = bias[0] as number;
      for (let i = 0; i < n; i++) y[i] = (y[i] as number) + b;
    }
  }
  switch (activation) {
    case 'linear':
      return;
    case 'relu':
      for (let i = 0; i < n; i++) if ((y[i] as number) < 0) y[i] = 0;
      return;
    case 'relu6':
      for (let i = 0; i < n; i++) y[i] = Math.min(6, Math.max(0, y[i] as number));
      return;
    case 'leakyrelu':
      for (let i = 0; i < n; i++) if ((y[i] as number) < 0) y[i] = (y[i] as number) * alpha;
      return;
    case 'sigmoid':
      for (let i = 0; i < n; i++) y[i] = 1 / (1 + Math.exp(-(y[i] as number)));
      return;
    case 'elu':
      for (let i = 0; i < n; i++) if ((y[i] as number) < 0) y[i] = Math.expm1(y[i] as number);
      return;
  }
}

function fusedConv2d(tf: TF): KernelConfig {
  return {
    kernelName: 'FusedConv2D',
    backendName: 'wasm',
    kernelFunc: (params) => {
      const { inputs, backend, attrs } = params;
      const at = (attrs ?? {}) as NamedAttrMap & { activation?: string; dataFormat?: string; leakyreluAlpha?: number };
      const { x, filter, bias } = inputs as { x: TensorInfo; filter: TensorInfo; bias?: TensorInfo };
      const activation = at.activation ?? 'linear';
      const fallback = stock.get('FusedConv2D');
      const biasOk = !bias || bias.shape.length <= 1;
      if ((at.dataFormat !== undefined && at.dataFormat !== 'NHWC') || !SUPPORTED_ACTIVATIONS.has(activation) || !biasOk) {
        if (!fallback) throw new Error(`FusedConv2D: unsupported configuration (${activation}, ${String(at.dataFormat)})`);
        return fallback.kernelFunc(params);
      }
      const wb = backend as WasmBackendLike;
      const out = conv2dForwardWasm(tf, wb, x, filter, attrs as unknown as Parameters<typeof conv2dForwardWasm>[4]);
      const y = wb.typedArrayFromHeap(out) as Float32Array;
      const b = bias ? (wb.typedArrayFromHeap(bias) as Float32Array) : null;
      applyBiasActivation(y, b, filter.shape[3] as number, activation as Activation, at.leakyreluAlpha ?? 0.2);
      return out;
    },
  };
}

/**
 * Register kws's WASM kernels (idempotent). Call after tf.setBackend('wasm') has resolved.
 * Returns the names of the kernels now provided by kws.
 */
export function registerTrainingKernels(tf: TF, opts: TrainingKernelOptions = {}): string[] {
  const replaceConvolutions = opts.replaceConvolutions ?? true;
  const replaceSlow = opts.replaceSlowKernels ?? true;
  const k = wasmConvKernels(tf);
  const names: string[] = [];
  replace(tf, k.backpropFilter);
  names.push('Conv2DBackpropFilter');
  if (replaceConvolutions) {
    setStockConv2D(stockKernel(tf, 'Conv2D'));
    replace(tf, k.forward);
    replace(tf, fusedConv2d(tf));
    replace(tf, k.backpropInput);
    names.push('Conv2D', 'FusedConv2D', 'Conv2DBackpropInput');
  } else {
    for (const name of ['Conv2D', 'FusedConv2D', 'Conv2DBackpropInput']) restore(tf, name);
  }
  if (replaceSlow) {
    replace(tf, batchMatMulKernel(tf, stockKernel(tf, 'BatchMatMul')));
    replace(tf, tileKernel(stockKernel(tf, 'Tile')));
    replace(tf, maxPoolGradKernel(tf, stockKernel(tf, 'MaxPoolGrad')));
    replace(tf, sumKernel(tf, stockKernel(tf, 'Sum')));
    replace(tf, identityKernel(stockKernel(tf, 'Identity')));
    replace(tf, castKernel(stockKernel(tf, 'Cast')));
    replace(tf, equalKernel(tf, stockKernel(tf, 'Equal')));
    names.push(...SLOW_KERNELS);
  } else {
    for (const name of SLOW_KERNELS) restore(tf, name);
  }
  registered = names;
  return names.slice();
}

/** Names of the kernels kws currently provides for wasm (for `kws doctor`). */
export function registeredTrainingKernels(): string[] {
  return registered.slice();
}
