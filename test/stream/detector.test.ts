import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Detector, formatHit } from '../../src/stream/detector';
import { hitsFromResults, parseLabels, scoreHits } from '../../src/stream/scoring';

test('the first qualifying result of a label is reported (the original never printed it)', () => {
  const d = new Detector({ threshold: 0.6, refractory: 2, includeHidden: false });
  assert.equal(d.accept('yes', 0.9, 1.0), true);
});

test('threshold, per-label refractory time and hidden labels', () => {
  const d = new Detector({ threshold: 0.6, refractory: 2, includeHidden: false });
  assert.equal(d.accept('yes', 0.59, 0), false);
  assert.equal(d.accept('yes', 0.6, 0.1), true);
  assert.equal(d.accept('yes', 0.99, 2.0), false); // 1.9 s later
  assert.equal(d.accept('no', 0.7, 2.0), true); // other label: own refractory
  assert.equal(d.accept('yes', 0.99, 2.1), true); // 2.0 s later
  assert.equal(d.accept('_unknown_', 0.99, 5), false);
  assert.equal(d.accept('_background_', 0.99, 5), false);
  const all = new Detector({ threshold: 0.6, refractory: 2, includeHidden: true });
  assert.equal(all.accept('_unknown_', 0.99, 5), true);
});

test('hits print as the original client printed them (Python dict repr)', () => {
  assert.equal(formatHit('yes', 0.93), "hit {'label': 'yes', 'probability': 0.93}");
  assert.equal(formatHit("don't", 0.5), `hit {'label': "don't", 'probability': 0.5}`);
});

test('scoring: recall, precision, false hits per hour and latency on a known case', () => {
  const words = [
    { label: 'yes', start: 1.0, end: 1.4 },
    { label: 'no', start: 5.0, end: 5.3 },
    { label: '_unknown_', start: 8.0, end: 8.5 },
    { label: 'yes', start: 10.0, end: 10.5 },
  ];
  const hits = [
    { label: 'yes', t: 1.9, probability: 0.9 }, // counts (0.5 s after the end)
    { label: 'no', t: 3.4, probability: 0.8 }, // 1.6 s before "no": false
    { label: 'no', t: 6.0, probability: 0.8 }, // counts
    { label: 'stop', t: 8.2, probability: 0.7 }, // false (no "stop" word)
    { label: '_unknown_', t: 8.3, probability: 0.9 }, // hidden: ignored
  ];
  const r = scoreHits(words, hits, 60);
  assert.equal(r.keywords, 3);
  assert.equal(r.detected, 2);
  assert.ok(Math.abs(r.recall - 2 / 3) < 1e-12);
  assert.equal(r.hits, 4);
  assert.equal(r.falseHits, 2);
  assert.equal(r.precision, 0.5);
  assert.equal(r.falseHitsPerHour, 120);
  assert.equal(r.falseHitsPerMinute, 2);
  assert.deepEqual(r.missed, [{ label: 'yes', start: 10.0, end: 10.5 }]);
  assert.ok(r.latency !== null && Math.abs(r.latency.max - 0.7) < 1e-9 && Math.abs(r.latency.mean - 0.6) < 1e-9);
  assert.deepEqual(r.perLabel.no, { keywords: 1, detected: 1, falseHits: 1 });
});

test('hitsFromResults applies the detector to window results in time order', () => {
  const results = [
    { label: 'yes', probability: 0.7, t: 1.25 },
    { label: 'yes', probability: 0.95, t: 1.0 },
    { label: 'yes', probability: 0.9, t: 3.5 },
    { label: '_background_', probability: 0.99, t: 4 },
  ];
  assert.deepEqual(hitsFromResults(results, { threshold: 0.6, refractory: 2, includeHidden: true }), [
    { label: 'yes', t: 1.0, probability: 0.95 },
    { label: 'yes', t: 3.5, probability: 0.9 },
  ]);
});

test('labels files: the shared JSON list and Audacity label tracks', () => {
  assert.deepEqual(parseLabels('[{"label":"yes","start_s":1,"end_s":1.5,"word":"yes"}]'), [{ label: 'yes', start: 1, end: 1.5 }]);
  assert.deepEqual(parseLabels('1.0\t1.5\tyes\n2\t2.25\tno\n'), [
    { label: 'yes', start: 1, end: 1.5 },
    { label: 'no', start: 2, end: 2.25 },
  ]);
  assert.throws(() => parseLabels('[{"label":"yes"}]'), /entry 1/);
  assert.throws(() => parseLabels('1.0 1.5 yes'), /line 1/);
});
