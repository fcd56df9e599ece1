/**
 * A convolution's bias and ReLU as one kernel each way, on the WASM and CPU backends.
 *
 * tfjs-layers' Conv1D adds its bias with a broadcasting Add and then applies ReLU: two passes over
 * the convolution's output forwards, and three backwards (Step, Mul, and a Sum for the bias
 * gradient). On the notebooks' raw model those outputs are 16,376 x 16 floats per clip, and those
 * passes were about 15 % of its profiled training run on WASM (docs/backends.md). Here the forward
 * pass is y = max(0, x + bias) and the backward pass computes dx = dy * (y > 0) and the bias
 * gradient together, from the saved output.
 *
 * Owner: model core.
 */
import type { KernelConfig, TensorInfo, Tensor, GradConfig } from '@tensorflow/tfjs';
import type { TF } from '../backend';
import { simdKernels, type SimdKernels } from './simd';
import { channelsOf, cpuMemory, ownKernelAvailable, pointer, registerOwnKernels, wasmMemory, type Memory, type WasmLike } from './memory';

export const BIAS_RELU = 'KwsBiasRelu';
export const BIAS_RELU_GRAD = 'KwsBiasReluGrad';

function forward(mem: Memory, x: TensorInfo, bias: TensorInfo): TensorInfo {
  const C = channelsOf(x, BIAS_RELU);
  const { infos, views } = mem.alloc([x.shape.slice()]);
  const [y] = views() as [Float32Array];
  const xv = mem.read(x);
  const b = mem.read(bias);
  for (let i = 0; i < xv.length; i += C) {
    for (let c = 0; c < C; c++) {
      const v = (xv[i + c] as number) + (b[c] as number);
      y[i + c] = v > 0 ? v : 0;
    }
  }
  return infos[0] as TensorInfo;
}

function backward(mem: Memory, dy: TensorInfo, y: TensorInfo): TensorInfo[] {
  const C = channelsOf(y, BIAS_RELU);
  const { infos, views } = mem.alloc([y.shape.slice(), [C]]);
  const [dx, dbias] = views() as [Float32Array, Float32Array];
  const g = mem.read(dy);
  const yv = mem.read(y);
  const sums = new Float64Array(C);
  for (let i = 0; i < yv.length; i += C) {
    for (let c = 0; c < C; c++) {
      const d = (yv[i + c] as number) > 0 ? (g[i + c] as number) : 0;
      dx[i + c] = d;
      sums[c] = (sums[c] as number) + d;
    }
  }
  dbias.set(sums);
  return infos;
}

function forwardSimd(simd: SimdKernels, wb: WasmLike, x: TensorInfo, bias: TensorInfo): TensorInfo {
  const C = channelsOf(x, BIAS_RELU);
  const y = wb.makeOutput(x.shape.slice(), 'float32');
  simd.biasRelu(pointer(wb, x), pointer(wb, bias), pointer(wb, y), x.shape.reduce((a, b) => a * b, 1) / C, C, 1);
  return y;
}

function backwardSimd(simd: SimdKernels, wb: WasmLike, dy: TensorInfo, y: TensorInfo): TensorInfo[] {
  const C = channelsOf(y, BIAS_RELU);
  const infos = [wb.makeOutput(y.shape.slice(), 'float32'), wb.makeOutput([C], 'float32')];
  const sums = simd.malloc(C * 8);
  try {
    new Float64Array(simd.memory.buffer, sums, C).fill(0);
    simd.reluGradSums(pointer(wb, dy), pointer(wb, y), pointer(wb, infos[0] as TensorInfo), y.shape.reduce((a, b) => a * b, 1) / C, C, sums);
    (wb.typedArrayFromHeap(infos[1] as TensorInfo) as Float32Array).set(new Float64Array(simd.memory.buffer, sums, C));
  } finally {
    simd.free(sums);
  }
  return infos;
}

function kernelsFor(backendName: 'wasm' | 'cpu', memory: (backend: unknown) => Memory): KernelConfig[] {
  const simdFor = (backend: unknown, t: TensorInfo): SimdKernels | null => (backendName === 'wasm' && channelsOf(t, BIAS_RELU) % 4 === 0 ? simdKernels(backend) : null);
  return [
    {
      kernelName: BIAS_RELU,
      backendName,
      kernelFunc: ({ inputs, backend }) => {
        const { x, bias } = inputs as { x: TensorInfo; bias: TensorInfo };
        if (bias.shape.length !== 1 || bias.shape[0] !== channelsOf(x, BIAS_RELU)) throw new Error(`${BIAS_RELU}: bias of shape [${bias.shape.join(', ')}] for ${channelsOf(x, BIAS_RELU)} channels`);
        const simd = simdFor(backend, x);
        return simd ? forwardSimd(simd, backend as WasmLike, x, bias) : forward(memory(backend), x, bias);
      },
    },
    {
      kernelName: BIAS_RELU_GRAD,
      backendName,
      kernelFunc: ({ inputs, backend }) => {
        const { dy, y } = inputs as { dy: TensorInfo; y: TensorInfo };
        const simd = simdFor(backend, y);
        return simd ? backwardSimd(simd, backend as WasmLike, dy, y) : backward(memory(backend), dy, y);
      },
    },
  ];
}

let gradEngine: ReturnType<TF['engine']> | null = null;

const gradient: GradConfig = {
  kernelName: BIAS_RELU,
  outputsToSave: [true],
  gradFunc: (dys: Tensor | Tensor[], saved: Tensor[]) => {
    const dy = Array.isArray(dys) ? (dys[0] as Tensor) : dys;
    const [y] = saved as [Tensor];
    if (!gradEngine) throw new Error(`${BIAS_RELU_GRAD}: registerBiasReluKernels() has not run`);
    const [dx, dbias] = gradEngine.runKernel(BIAS_RELU_GRAD, { dy, y }, {}) as Tensor[];
    return { x: () => dx as Tensor, bias: () => dbias as Tensor };
  },
};

/** Register both kernels for the WASM and CPU backends, and the forward kernel's gradient (idempotent). */
export function registerBiasReluKernels(tf: TF): void {
  gradEngine = tf.engine();
  registerOwnKernels(tf, [...kernelsFor('wasm', wasmMemory), ...kernelsFor('cpu', cpuMemory)], gradient);
}

/** Whether the kernels can run on the active backend (not on tfjs-node, whose stock ops are fast). */
export function biasReluAvailable(tf: TF): boolean {
  return ownKernelAvailable(tf, BIAS_RELU);
}
