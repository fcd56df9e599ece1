/**
 * kws's WebAssembly SIMD kernels (simd.wat), instantiated on the WASM backend's own memory so that
 * they work on tensors in place. One instance per backend instance.
 *
 * Owner: model core.
 */
import { SIMD_WASM_BASE64 } from './simd-binary';

/** The WebAssembly API (the project compiles without the DOM typings that declare it). */
interface WasmMemory {
  readonly buffer: ArrayBuffer;
}
interface WasmApi {
  Memory: new (descriptor: { initial: number }) => WasmMemory;
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object, imports: Record<string, Record<string, unknown>>) => { exports: Record<string, unknown> };
}
const WA = (globalThis as unknown as { WebAssembly: WasmApi }).WebAssembly;

/** The parts of the WASM backend's Emscripten module these kernels need. */
interface EmscriptenLike {
  asm?: { memory?: unknown };
  _malloc(bytes: number): number;
  _free(ptr: number): void;
}

interface BackendWithModule {
  wasm?: EmscriptenLike;
}

export interface SimdKernels {
  bnStats(x: number, rows: number, C: number, sums: number): void;
  bnNormalize(x: number, y: number, rows: number, C: number, mean: number, scale: number, beta: number): void;
  bnGradSums(dy: number, x: number, mean: number, rows: number, C: number, sums: number): void;
  bnGradDx(dy: number, x: number, dx: number, rows: number, C: number, mean: number, k1: number, k2: number, k3: number): void;
  sumRows(x: number, rows: number, C: number, sums: number): void;
  biasRelu(x: number, bias: number, y: number, rows: number, C: number, relu: number): void;
  reluGradSums(dy: number, y: number, dx: number, rows: number, C: number, sums: number): void;
  /** `count` runs of `len` bytes, from src + i * srcStep to dst + i * dstStep (byte addresses). */
  copyRuns(dst: number, src: number, count: number, len: number, dstStep: number, srcStep: number): void;
  maxPoolGrad(
    x: number,
    dy: number,
    dx: number,
    batch: number,
    inH: number,
    inW: number,
    C: number,
    outH: number,
    outW: number,
    strideH: number,
    strideW: number,
    fH: number,
    fW: number,
    padTop: number,
    padLeft: number,
  ): void;
  /** Scratch memory in the backend's heap; free() it when done. */
  malloc(bytes: number): number;
  free(ptr: number): void;
  memory: WasmMemory;
}

let compiled: object | null = null;
const instances = new WeakMap<object, SimdKernels | null>();

function moduleBytes(): Uint8Array {
  return Uint8Array.from(Buffer.from(SIMD_WASM_BASE64, 'base64'));
}

/** The kernels for this WASM backend, or null when its memory is not reachable or SIMD is missing. */
export function simdKernels(backend: unknown): SimdKernels | null {
  const em = (backend as BackendWithModule).wasm;
  if (!em || typeof em !== 'object') return null;
  if (instances.has(em)) return instances.get(em) ?? null;
  let kernels: SimdKernels | null = null;
  const memory = em.asm?.memory;
  if (memory instanceof WA.Memory) {
    try {
      compiled ??= new WA.Module(moduleBytes());
      const exports = new WA.Instance(compiled, { env: { memory } }).exports as unknown as Omit<SimdKernels, 'malloc' | 'free' | 'memory'>;
      kernels = {
        bnStats: exports.bnStats,
        bnNormalize: exports.bnNormalize,
        bnGradSums: exports.bnGradSums,
        bnGradDx: exports.bnGradDx,
        sumRows: exports.sumRows,
        biasRelu: exports.biasRelu,
        reluGradSums: exports.reluGradSums,
        copyRuns: exports.copyRuns,
        maxPoolGrad: exports.maxPoolGrad,
        // 8-byte aligned (Emscripten's malloc): enough for the f64 sums; v128 loads need none.
        malloc: (bytes) => em._malloc(bytes),
        free: (ptr) => em._free(ptr),
        memory,
      };
    } catch {
      kernels = null; // no SIMD in this runtime: the JavaScript loops remain
    }
  }
  instances.set(em, kernels);
  return kernels;
}

/** The whole module, for tests. */
export function simdModuleBytes(): Uint8Array {
  return moduleBytes();
}
