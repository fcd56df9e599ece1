import { test } from 'node:test';
import assert from 'node:assert/strict';
import { argmaxRows, evaluatePredictions, formatEvaluation } from '../../src/model/evaluate';

test('confusion matrix, accuracy, precision and recall on a known example', () => {
  const labels = ['a', 'b', 'c'];
  const truth = [0, 0, 0, 0, 1, 1, 1, 2, 2, 2];
  const pred = [0, 0, 0, 1, 1, 1, 0, 0, 0, 0];
  const e = evaluatePredictions(labels, truth, pred);
  assert.deepEqual(e.confusion, [[3, 1, 0], [1, 2, 0], [3, 0, 0]]);
  assert.equal(e.accuracy, 0.5);
  const [a, b, c] = e.perLabel;
  assert.equal(a?.precision, 3 / 7);
  assert.equal(a?.recall, 3 / 4);
  assert.equal(b?.precision, 2 / 3);
  assert.equal(b?.recall, 2 / 3);
  // Never predicted: precision is undefined (null), not zero.
  assert.equal(c?.precision, null);
  assert.equal(c?.recall, 0);
  assert.equal(c?.support, 3);
  const table = formatEvaluation(e);
  assert.match(table, /accuracy 50\.0% on 10 clips/);
  assert.match(table, /^c\s+-\s+0\.0%/m);
});

test('argmaxRows picks each row\'s largest probability', () => {
  assert.deepEqual([...argmaxRows(Float32Array.from([0.1, 0.7, 0.2, 0.5, 0.4, 0.1]), 3)], [1, 0]);
});
