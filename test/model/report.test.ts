import { test } from 'node:test';
import assert from 'node:assert/strict';
import { renderReport } from '../../src/model/report';
import { evaluatePredictions } from '../../src/model/evaluate';

test('the report is one self-contained page with curves and the confusion matrix', () => {
  const history = [1, 2, 3].map((epoch) => ({ epoch, epochs: 3, loss: 1 / epoch, acc: 0.3 * epoch, valLoss: 1.2 / epoch, valAcc: 0.25 * epoch, learningRate: 0.001, seconds: 2 }));
  const html = renderReport({
    name: 'm<1>',
    type: 'mfcc',
    arch: 'default',
    backend: 'wasm',
    createdAt: '2026-01-01T00:00:00Z',
    featureDescription: 'log-mel',
    settings: { epochs: 3 },
    dataset: { clipsPerLabel: { yes: 2, '<no>': 2 }, trainClips: 3, valClips: 4, splitBy: 'voice' },
    history,
    validation: evaluatePredictions(['<no>', 'yes'], [0, 0, 1, 1], [0, 1, 1, 1]),
  });
  assert.match(html, /^<!doctype html>/);
  // Two line charts and the confusion matrix, inline.
  assert.equal((html.match(/<svg /g) ?? []).length, 3);
  assert.equal((html.match(/<polyline /g) ?? []).length, 4);
  assert.match(html, /validation accuracy 75\.0%/);
  // Nothing fetched from anywhere, nothing executed.
  assert.doesNotMatch(html, /<script|<link|src=|https?:\/\/(?!www\.w3\.org\/2000\/svg)/);
  // Names are escaped, never markup.
  assert.doesNotMatch(html, /<no>|m<1>/);
  assert.match(html, /&lt;no&gt;/);
  // Cell counts appear in the matrix: 1 correct '<no>', 1 confused, 2 correct 'yes'.
  assert.match(html, /true &lt;no&gt;, predicted yes: 1/);
  assert.match(html, /true yes, predicted yes: 2/);
});
