/**
 * The inference thread of `kws serve` (see worker-engine.ts): loads the model and answers
 * batches of feature windows. Runs in a worker_threads Worker; never imported directly.
 */
import { parentPort, workerData } from 'node:worker_threads';

export interface WorkerInit {
  ref: string;
  backend: string;
}

export type WorkerRequest = { id: number; n: number; data: Float32Array };
export type WorkerReply =
  | { kind: 'ready'; name: string; labels: string[]; backend: string; spec: unknown; type: string }
  | { kind: 'result'; id: number; probs: Float32Array }
  | { kind: 'error'; id: number; message: string }
  | { kind: 'fatal'; message: string; exitCode?: number };

async function main(): Promise<void> {
  const port = parentPort;
  if (port === null) return;
  const init = workerData as WorkerInit;
  try {
    const { Classifier } = await import('../model/classifier.js');
    const { parseBackendChoice } = await import('../model/backend.js');
    // A server runs for hours: the second spent choosing the faster convolutions pays for itself.
    const c = await Classifier.load(init.ref, { backend: parseBackendChoice(init.backend), tuneConvolutions: true });
    const ready: WorkerReply = { kind: 'ready', name: c.meta.name, labels: [...c.labels], backend: c.convolutions ? `${c.backend}, ${c.convolutions} convolutions` : c.backend, spec: c.spec, type: c.meta.type };
    port.postMessage(ready);
    const size = c.windowSize;
    port.on('message', (req: WorkerRequest) => {
      try {
        const windows: Float32Array[] = [];
        for (let i = 0; i < req.n; i++) windows.push(req.data.subarray(i * size, (i + 1) * size));
        const out = c.predictFeatures(windows);
        const k = c.labels.length;
        const probs = new Float32Array(req.n * k);
        out.forEach((p, i) => probs.set(p, i * k));
        const reply: WorkerReply = { kind: 'result', id: req.id, probs };
        port.postMessage(reply, [probs.buffer]);
      } catch (err) {
        const reply: WorkerReply = { kind: 'error', id: req.id, message: err instanceof Error ? err.message : String(err) };
        port.postMessage(reply);
      }
    });
  } catch (err) {
    const e = err as { message?: string; exitCode?: number; hint?: string };
    const reply: WorkerReply = { kind: 'fatal', message: `${e.message ?? String(err)}${e.hint ? `\n  ${e.hint}` : ''}`, exitCode: e.exitCode };
    port.postMessage(reply);
  }
}

void main();
