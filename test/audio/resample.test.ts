import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as path from 'node:path';
import { resample, Resampler } from '../../src/audio/resample';
import { loadClip, readWavFile } from '../../src/audio/wav';
import { fixturesDir } from '../helpers';
import { peak, sine, spectrum, worstSpur } from './spectrum';

// Requirement: a 1 kHz sine resampled to 16 kHz comes out at 1 kHz with every other
// component (harmonics, aliases, images, noise) at least 60 dB below it.
// 44099 has no common factor with 16000 worth tabulating: it exercises the interpolated-kernel path.
for (const from of [44100, 48000, 22050, 8000, 11025, 32000, 44099]) {
  test(`1 kHz sine from ${from} Hz to 16 kHz: right frequency and level, spurs >= 60 dB down`, () => {
    const y = resample(sine(1000, from, 1.5, 0.5), from, 16000);
    assert.equal(y.length, Math.ceil((Math.round(from * 1.5) * 16000) / from));
    const s = spectrum(y, 16000);
    const p = peak(s);
    assert.ok(Math.abs(p.hz - 1000) <= s.binHz, `peak at ${p.hz} Hz`);
    // Amplitude 0.5 is -6.02 dB; the pass band must not change it.
    assert.ok(Math.abs(p.db - -6.02) < 0.05, `peak level ${p.db.toFixed(3)} dB`);
    const spur = worstSpur(s, p.bin);
    assert.ok(p.db - spur.db >= 60, `spur at ${spur.hz.toFixed(0)} Hz only ${(p.db - spur.db).toFixed(1)} dB down`);
  });
}

// Aliasing proper: tones above the new Nyquist (8 kHz) must be removed, not folded down.
for (const [from, f] of [
  [44100, 9000],
  [44100, 8700],
  [44100, 12000],
  [48000, 15000],
  [22050, 10000],
] as const) {
  test(`${f} Hz tone in a ${from} Hz signal is removed (>= 60 dB down), not aliased to ${16000 - f} Hz`, () => {
    const y = resample(sine(f, from, 1.5, 0.5), from, 16000);
    const s = spectrum(y, 16000);
    const p = peak(s);
    assert.ok(p.db < -6.02 - 60, `strongest output component ${p.db.toFixed(1)} dB at ${p.hz.toFixed(0)} Hz`);
  });
}

test('upsampling 8 kHz -> 16 kHz leaves no image of a 3 kHz tone at 5 kHz', () => {
  const y = resample(sine(3000, 8000, 1.5, 0.5), 8000, 16000);
  const s = spectrum(y, 16000);
  const p = peak(s);
  assert.ok(Math.abs(p.hz - 3000) <= s.binHz);
  const image = s.db[Math.round(5000 / s.binHz)] as number;
  assert.ok(p.db - image >= 60, `image only ${(p.db - image).toFixed(1)} dB down`);
});

test('a pass-band tone (6 kHz from 44.1 kHz) keeps its level within 0.1 dB', () => {
  const y = resample(sine(6000, 44100, 1.5, 0.5), 44100, 16000);
  const p = peak(spectrum(y, 16000));
  assert.ok(Math.abs(p.hz - 6000) <= 2);
  assert.ok(Math.abs(p.db - -6.02) < 0.1, `${p.db.toFixed(3)} dB`);
});

for (const from of [44100, 44099, 8000]) test(`streaming in odd chunk sizes gives the same samples as one call (${from} Hz)`, () => {
  const x = sine(440, from, 0.7, 0.3);
  for (let i = 0; i < x.length; i += 37) x[i] = (x[i] as number) + 0.2; // some broadband content
  const whole = resample(x, from, 16000);
  const r = new Resampler(from, 16000);
  const parts: number[] = [];
  let pos = 0;
  for (const size of [1, 7, 1000, 333, 4096, 2, 9999]) {
    const piece = x.subarray(pos, Math.min(x.length, pos + size));
    pos += piece.length;
    parts.push(...r.process(piece));
  }
  parts.push(...r.process(x.subarray(pos)));
  parts.push(...r.flush());
  assert.equal(parts.length, whole.length);
  for (let i = 0; i < whole.length; i++) assert.ok(Math.abs((parts[i] as number) - (whole[i] as number)) < 1e-6, `sample ${i}`);
});

test('same rate is an exact copy; lengths are ceil(n * to / from)', () => {
  const x = new Float32Array([0.1, -0.2, 0.3]);
  const y = resample(x, 16000, 16000);
  assert.deepEqual(y, x);
  assert.notEqual(y, x);
  assert.equal(resample(new Float32Array(441), 44100, 16000).length, 160);
  assert.equal(resample(new Float32Array(442), 44100, 16000).length, 161);
  assert.equal(resample(new Float32Array(1), 8000, 16000).length, 2);
  assert.equal(resample(new Float32Array(0), 48000, 16000).length, 0);
});

test('bad rates are refused', () => {
  assert.throws(() => resample(new Float32Array(4), 0, 16000), RangeError);
  assert.throws(() => new Resampler(44100, Number.NaN), RangeError);
});

test('agrees with SoX "rate -v" on a 50-7500 Hz chirp, 44.1 -> 16 kHz (difference >= 80 dB down; measured 91)', async () => {
  const ours = await loadClip(path.join(fixturesDir, 'audio', 'chirp_44100.wav'));
  const ref = await readWavFile(path.join(fixturesDir, 'audio', 'chirp_16000_sox.wav'));
  assert.equal(ref.sampleFormat, 'float');
  const sox = ref.data[0] as Float32Array;
  assert.equal(ours.length, sox.length);
  // Ignore the ends, where the two filters see different padding.
  let err = 0;
  let sig = 0;
  for (let i = 300; i < sox.length - 300; i++) {
    const d = (ours[i] as number) - (sox[i] as number);
    err += d * d;
    sig += (sox[i] as number) ** 2;
  }
  const snr = 10 * Math.log10(sig / err);
  assert.ok(snr >= 80, `difference from SoX only ${snr.toFixed(1)} dB down`);
});
