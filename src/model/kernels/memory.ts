/**
 * What kws's own kernels (batchnorm.ts, bias-relu.ts) share: how they read inputs and allocate
 * outputs on the two backends they run on (the WASM backend, whose tensors live in its heap, and the
 * CPU backend, plain typed arrays), and their registration.
 *
 * Owner: model core.
 */
import type { GradConfig, KernelConfig, TensorInfo } from '@tensorflow/tfjs';
import type { TF } from '../backend';

export interface Memory {
  read(t: TensorInfo): Float32Array;
  /** Allocate every output first: on WASM an allocation can move the heap and detach older views. */
  alloc(shapes: number[][]): { infos: TensorInfo[]; views: () => Float32Array[] };
}

export interface WasmLike {
  makeOutput(shape: number[], dtype: 'float32'): TensorInfo;
  typedArrayFromHeap(t: TensorInfo): Float32Array | Int32Array | Uint8Array;
}

interface CpuLike {
  data: { get(dataId: object): { values?: unknown } };
  makeTensorInfo(shape: number[], dtype: 'float32', values: Float32Array): TensorInfo;
}

export function asF32(a: unknown, what: string): Float32Array {
  if (!(a instanceof Float32Array)) throw new Error(`kws kernel: ${what} must be float32`);
  return a;
}

export function wasmMemory(backend: unknown): Memory {
  const wb = backend as WasmLike;
  return {
    read: (t) => asF32(wb.typedArrayFromHeap(t), 'input'),
    alloc: (shapes) => {
      const infos = shapes.map((s) => wb.makeOutput(s, 'float32'));
      return { infos, views: () => infos.map((i) => asF32(wb.typedArrayFromHeap(i), 'output')) };
    },
  };
}

export function cpuMemory(backend: unknown): Memory {
  const cb = backend as CpuLike;
  return {
    read: (t) => asF32(cb.data.get(t.dataId).values, 'input'),
    alloc: (shapes) => {
      const arrays = shapes.map((s) => new Float32Array(s.reduce((a, b) => a * b, 1)));
      const infos = shapes.map((s, i) => cb.makeTensorInfo(s, 'float32', arrays[i] as Float32Array));
      return { infos, views: () => arrays };
    },
  };
}

/** A tensor's byte address in the WASM heap (for the SIMD kernels). */
export function pointer(backend: WasmLike, t: TensorInfo): number {
  return backend.typedArrayFromHeap(t).byteOffset;
}

/** The channel count of a channels-last tensor of rank >= 2. */
export function channelsOf(t: TensorInfo, kernel: string): number {
  const c = t.shape[t.shape.length - 1];
  if (c === undefined || t.shape.length < 2) throw new Error(`${kernel}: needs a channels-last input of rank >= 2, got [${t.shape.join(', ')}]`);
  return c;
}

/** Register kernels (those not yet registered) and a gradient (unless one exists). */
export function registerOwnKernels(tf: TF, kernels: KernelConfig[], gradient: GradConfig): void {
  for (const k of kernels) {
    if (!tf.getKernelsForBackend(k.backendName).some((r) => r.kernelName === k.kernelName)) tf.registerKernel(k);
  }
  if (!tf.getGradient(gradient.kernelName)) tf.registerGradient(gradient);
}

/** Whether a kernel of kws's runs on the active backend (wasm and cpu; tfjs-node has its own fast ops). */
export function ownKernelAvailable(tf: TF, kernelName: string): boolean {
  const name = tf.getBackend();
  return (name === 'wasm' || name === 'cpu') && tf.getKernel(kernelName, name) !== undefined;
}
