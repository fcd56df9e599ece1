import { test } from 'node:test';
import assert from 'node:assert/strict';
import { UserError } from '../../src/util/errors';
import { describeSpec, featureShape, modelInputShape, parseFeatureSpec, seedSpec, type FeatureSpec } from '../../src/features/spec';
import { FeatureExtractor } from '../../src/features/extract';
import { hzToMel, melToHz, melFilterbankDense } from '../../src/features/filters';
import { createRng } from '../../src/util/rng';

test('seedSpec is the original: librosa 0.8 defaults, 16384 samples -> 33 frames', () => {
  const m = seedSpec('mfcc');
  assert.deepEqual(m, {
    specVersion: 1,
    kind: 'mfcc',
    sampleRate: 16000,
    windowSamples: 16384,
    nMfcc: 40,
    spectral: { nFft: 2048, winLength: 2048, hop: 512, center: true, padMode: 'reflect', nMels: 128, fmin: 0, fmax: 8000, dbRef: 1, topDb: 80 },
  });
  assert.equal(seedSpec('logmel').spectral?.dbRef, 'max');
  assert.deepEqual(featureShape(m), { rows: 40, frames: 33 });
  assert.deepEqual(featureShape(seedSpec('logmel')), { rows: 128, frames: 33 });
  assert.deepEqual(featureShape(seedSpec('mfcc', 16000)), { rows: 40, frames: 32 });
  assert.deepEqual(modelInputShape(m), [40, 33, 1]);
  assert.deepEqual(modelInputShape(seedSpec('raw')), [16384, 1]);
  assert.match(describeSpec(m), /MFCC 40 coefficients from 128 mel bands \(40 x 33 frames per window\).*reflect/);
});

test('parseFeatureSpec accepts what seedSpec and a custom spec produce (JSON round trip)', () => {
  for (const kind of ['mfcc', 'logmel', 'raw'] as const) {
    const s = seedSpec(kind);
    assert.deepEqual(parseFeatureSpec(JSON.parse(JSON.stringify(s)), 'x.json'), s);
  }
  const custom = customSpec();
  assert.deepEqual(parseFeatureSpec(JSON.parse(JSON.stringify(custom)), 'x.json'), custom);
});

test('parseFeatureSpec lists every problem and names the source', () => {
  const bad = JSON.parse(JSON.stringify(seedSpec('mfcc'))) as Record<string, unknown> & { spectral: Record<string, unknown> };
  bad.spectral.nFft = 1000;
  bad.spectral.winLength = 4096;
  bad.spectral.padMode = 'edge';
  bad.nMfcc = 0;
  try {
    parseFeatureSpec(bad, 'models/m/kws-model.json');
    assert.fail('should throw');
  } catch (err) {
    assert.ok(err instanceof UserError);
    assert.equal(err.exitCode, 3);
    assert.match(err.message, /^models\/m\/kws-model\.json: invalid feature spec/);
    assert.match(err.message, /nFft must be a power of two/);
    assert.match(err.message, /winLength \(4096\) must not exceed nFft/);
    assert.match(err.message, /padMode/);
    assert.match(err.message, /nMfcc must be a positive integer/);
  }
  assert.throws(() => parseFeatureSpec({ kind: 'cqt' }, 'a.json'), /a\.json: feature kind must be one of mfcc, logmel, raw/);
  assert.throws(() => parseFeatureSpec(null, 'a.json'), /a\.json/);
});

test('Slaney mel scale: linear below 1 kHz, log above, invertible', () => {
  assert.ok(Math.abs(hzToMel(1000) - 15) < 1e-12);
  assert.ok(Math.abs(hzToMel(500) - 7.5) < 1e-12);
  assert.ok(Math.abs(hzToMel(6400) - 42) < 1e-12);
  for (const f of [0, 123, 999, 1000, 4321, 8000]) assert.ok(Math.abs(melToHz(hzToMel(f)) - f) < 1e-9);
});

/** A spec of the kind the model engineer may pick: 25 ms window in a 512 FFT, 10 ms hop, not centred, fixed reference. */
function customSpec(): FeatureSpec {
  return {
    specVersion: 1,
    kind: 'mfcc',
    sampleRate: 16000,
    windowSamples: 16000,
    nMfcc: 13,
    spectral: { nFft: 512, winLength: 400, hop: 160, center: false, padMode: 'constant', nMels: 40, fmin: 20, fmax: 7600, dbRef: 1, topDb: null },
  };
}

/**
 * An independent, slow float64 transcription of librosa (explicit numpy-style padding,
 * naive DFT, dense filterbank, power_to_db, DCT by definition), for specs the
 * reference files do not cover.
 */
function naiveLibrosa(spec: FeatureSpec, y: Float32Array): number[][] {
  const sp = spec.spectral!;
  let x = Array.from(y);
  if (sp.center) {
    const p = sp.nFft / 2;
    const left: number[] = [];
    const right: number[] = [];
    for (let i = p; i >= 1; i--) left.push(sp.padMode === 'reflect' ? y[i] : 0);
    for (let i = 1; i <= p; i++) right.push(sp.padMode === 'reflect' ? y[y.length - 1 - i] : 0);
    x = [...left, ...x, ...right];
  }
  const frames = 1 + Math.floor((x.length - sp.nFft) / sp.hop);
  const lpad = Math.floor((sp.nFft - sp.winLength) / 2);
  const w = new Array<number>(sp.nFft).fill(0);
  for (let n = 0; n < sp.winLength; n++) w[lpad + n] = 0.5 - 0.5 * Math.cos((2 * Math.PI * n) / sp.winLength);
  const fb = melFilterbankDense(spec.sampleRate, sp.nFft, sp.nMels, sp.fmin, sp.fmax);
  const mel: number[][] = [];
  for (let t = 0; t < frames; t++) {
    const pw: number[] = [];
    for (let k = 0; k <= sp.nFft / 2; k++) {
      let re = 0;
      let im = 0;
      for (let n = 0; n < sp.nFft; n++) {
        const v = x[t * sp.hop + n] * w[n];
        re += v * Math.cos((2 * Math.PI * k * n) / sp.nFft);
        im -= v * Math.sin((2 * Math.PI * k * n) / sp.nFft);
      }
      pw.push(re * re + im * im);
    }
    mel.push(fb.map((row) => row.reduce((acc, wk, k) => acc + wk * pw[k], 0)));
  }
  const all = mel.flat();
  const maxM = Math.max(...all);
  const ref = sp.dbRef === 'max' ? maxM : sp.dbRef;
  let db = mel.map((col) => col.map((m) => 10 * Math.log10(Math.max(1e-10, m)) - 10 * Math.log10(Math.max(1e-10, ref))));
  if (sp.topDb !== null) {
    const top = Math.max(...db.flat()) - sp.topDb;
    db = db.map((col) => col.map((v) => Math.max(v, top)));
  }
  const rows = spec.kind === 'mfcc' ? spec.nMfcc! : sp.nMels;
  const out: number[][] = [];
  for (let r = 0; r < rows; r++) {
    out.push(
      db.map((col) => {
        if (spec.kind !== 'mfcc') return col[r];
        const s = r === 0 ? Math.sqrt(1 / sp.nMels) : Math.sqrt(2 / sp.nMels);
        return s * col.reduce((acc, v, i) => acc + v * Math.cos((Math.PI * r * (2 * i + 1)) / (2 * sp.nMels)), 0);
      }),
    );
  }
  return out;
}

const variants: [string, (s: FeatureSpec) => void][] = [
  ['25 ms window in FFT 512, hop 160, not centred, ref 1, no top_db', () => {}],
  ['log-mel, centred, reflect, ref max, top_db 60', (s) => Object.assign(s, { kind: 'logmel', nMfcc: undefined, spectral: { ...s.spectral!, center: true, padMode: 'reflect', dbRef: 'max', topDb: 60 } })],
  ['MFCC, centred, constant padding, odd band count', (s) => Object.assign(s, { spectral: { ...s.spectral!, center: true, nMels: 41 } })],
];
for (const [name, tweak] of variants) {
  test(`general spec matches an independent naive librosa transcription: ${name}`, () => {
    const spec = customSpec();
    spec.windowSamples = 2400;
    tweak(spec);
    if (spec.nMfcc === undefined) delete spec.nMfcc;
    const rng = createRng(7);
    const y = Float32Array.from({ length: spec.windowSamples }, (_, i) => 0.3 * Math.sin(i * 0.07) * Math.exp(-i / 900) + 0.01 * rng.normal());
    const fe = new FeatureExtractor(spec);
    const got = fe.compute(y);
    const want = naiveLibrosa(spec, y);
    assert.deepEqual(featureShape(spec), { rows: want.length, frames: want[0].length });
    for (let r = 0; r < want.length; r++) {
      for (let t = 0; t < want[0].length; t++) {
        const g = got[r * fe.frames + t];
        assert.ok(Math.abs(g - want[r][t]) < 1e-3, `row ${r} frame ${t}: ${g} vs ${want[r][t]}`);
      }
    }
  });
}
