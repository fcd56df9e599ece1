/**
 * A training thread of replicas.ts: holds a copy of the model and computes the gradients of its
 * share of each mini-batch. Runs in a worker_threads Worker; never imported directly.
 *
 * Owner: training.
 */
import { parentPort, workerData } from 'node:worker_threads';
import type { LayersModel } from '@tensorflow/tfjs';
import type { ReplicaInit, ReplicaReply, ReplicaRequest } from './replicas';
import type { TF } from './backend';

async function main(): Promise<void> {
  const port = parentPort;
  if (port === null) return;
  const init = workerData as ReplicaInit;
  const { AllReduce } = await import('./allreduce.js');
  const reduce = new AllReduce(init.buffers, init.index);
  const reply = (r: ReplicaReply, transfer: ArrayBuffer[] = []): void => port.postMessage(r, transfer);
  try {
    const { initBackend, parseBackendChoice } = await import('./backend.js');
    const { tf } = await initBackend(parseBackendChoice(init.backend));
    const { registerKwsLayers } = await import('./layers.js');
    const { registerTrainingLayers, setReplicaStream } = await import('./training-layers.js');
    const { setStatisticsReducer } = await import('./kernels/batchnorm.js');
    const { shareGradients } = await import('./gradients.js');
    const { gradsReply, predictRows } = await import('./replicas.js');
    registerKwsLayers(tf);
    registerTrainingLayers(tf);
    setReplicaStream(init.index);
    setStatisticsReducer((v) => reduce.sum(v));
    let model: LayersModel | null = null;
    port.on('message', (req: ReplicaRequest) => {
      try {
        if (req.kind === 'model') {
          model?.dispose();
          model = null;
          void tf.models
            .modelFromJSON(req.topology as Parameters<TF['models']['modelFromJSON']>[0])
            .then((m) => {
              tf.tidy(() => m.setWeights(req.weights.map((w) => tf.tensor(w.values, w.shape))));
              model = m;
              reply({ kind: 'model-ready' });
            })
            .catch((err: unknown) => reply({ kind: 'error', message: err instanceof Error ? err.message : String(err) }));
          return;
        }
        if (!model) throw new Error(`${req.kind} before model`);
        const m = model;
        if (req.kind === 'predict') {
          tf.tidy(() => m.setWeights(req.weights.map((w, i) => tf.tensor(w, m.weights[i]?.read().shape))));
          const probs = predictRows(tf, m, req.x, req.shape[0] ?? 0, req.shape.slice(1));
          reply({ kind: 'probs', probs }, [probs.buffer as ArrayBuffer]);
          return;
        }
        if (req.trainable) {
          const ws = m.trainableWeights;
          tf.tidy(() =>
            req.trainable?.forEach((w, i) => {
              const v = ws[i];
              if (!v) throw new Error(`the model has no trainable weight ${i}`);
              v.write(tf.tensor(w, v.read().shape));
            }),
          );
        }
        reduce.reset();
        const x = tf.tensor(req.x, req.shape);
        try {
          const { reply: r, transfer } = gradsReply(tf, shareGradients(tf, m, x, req.labels, req.numClasses, req.batchRows, req.labelSmoothing));
          reply(r, transfer);
        } finally {
          x.dispose();
        }
      } catch (err) {
        AllReduce.abort(init.buffers);
        reply({ kind: 'error', message: err instanceof Error ? err.message : String(err) });
      }
    });
    reply({ kind: 'ready' });
  } catch (err) {
    reply({ kind: 'error', message: err instanceof Error ? err.message : String(err) });
  }
}

void main();
