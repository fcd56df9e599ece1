/**
 * Step-by-step known answers from shared/reference/features/intermediate.json (librosa's
 * mel band edges, Hann window, Slaney filterbank and one mel power array), so a parity
 * failure can be traced to a step. Skipped when shared/ is not beside the repository;
 * the end-to-end parity test (parity.test.ts) runs from the repository's own fixture.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { sharedRoot } from '../helpers';
import { melEdgesHz, melFilterbankDense, paddedHann } from '../../src/features/filters';
import { SpectralCore } from '../../src/features/extract';
import { seedSpec, type PadMode } from '../../src/features/spec';
import { loadReference } from './reference';

const file = path.join(sharedRoot, 'reference', 'features', 'intermediate.json');
const present = fs.existsSync(file);
const ref = present
  ? (JSON.parse(fs.readFileSync(file, 'utf8')) as {
      mel_band_edges_hz: number[];
      hann_window: number[];
      mel_filterbank: number[][];
      sine440_1s_mel_power_constant: number[][];
      sine440_1s_mel_power_reflect: number[][];
    })
  : null;

// The JSON holds float32 values (printed with %.9g): compare to float32 precision.
const close = (a: number, b: number): boolean => Math.abs(a - b) <= 2e-7 * Math.abs(b) + 1e-12;

test('mel band edges, Hann window and Slaney filterbank equal librosa', { skip: !present && 'shared/reference not present' }, () => {
  if (!ref) return;
  const edges = melEdgesHz(128, 0, 8000);
  ref.mel_band_edges_hz.forEach((v, i) => assert.ok(close(edges[i], v), `edge ${i}: ${edges[i]} vs ${v}`));
  const w = paddedHann(2048, 2048);
  ref.hann_window.forEach((v, i) => assert.ok(close(w[i], v), `window ${i}`));
  const fb = melFilterbankDense(16000, 2048, 128, 0, 8000);
  for (let b = 0; b < 128; b++) for (let k = 0; k < 1025; k++) assert.ok(close(fb[b][k], ref.mel_filterbank[b][k]), `band ${b} bin ${k}: ${fb[b][k]} vs ${ref.mel_filterbank[b][k]}`);
});

test('mel power of sine440_1s before dB, both paddings', { skip: !present && 'shared/reference not present' }, () => {
  if (!ref) return;
  const y = loadReference('sine440_1s').samples;
  for (const pad of ['constant', 'reflect'] as PadMode[]) {
    const spec = seedSpec('logmel', y.length);
    spec.spectral!.padMode = pad;
    const core = new SpectralCore(spec);
    const want = pad === 'constant' ? ref.sine440_1s_mel_power_constant : ref.sine440_1s_mel_power_reflect;
    const mel = new Float64Array(128);
    for (let t = 0; t < 32; t++) {
      core.melFrame(y, t, mel, 0);
      for (let b = 0; b < 128; b++) {
        const v = want[b][t];
        assert.ok(Math.abs(mel[b] - v) <= 1e-6 * Math.abs(v) + 1e-12, `${pad} band ${b} frame ${t}: ${mel[b]} vs ${v}`);
      }
    }
  }
});
