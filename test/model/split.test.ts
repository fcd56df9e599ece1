import { test } from 'node:test';
import assert from 'node:assert/strict';
import { splitClips, checkSplit, type SplitInput } from '../../src/model/split';
import { createRng } from '../../src/util/rng';

/** 4 labels x 60 clips; 30 voices of very different sizes, each speaking every label; plus voiceless clips. */
function corpus(): SplitInput[] {
  const rng = createRng(7);
  const out: SplitInput[] = [];
  for (let l = 0; l < 4; l++) {
    for (let i = 0; i < 60; i++) {
      const r = rng.next();
      out.push({ labelIndex: l, group: r < 0.15 ? null : r < 0.45 ? 'big-voice' : `v${rng.int(30)}` });
    }
  }
  return out;
}

test('the same seed gives the same split; another seed another one', () => {
  const clips = corpus();
  for (const by of ['clip', 'voice'] as const) {
    const a = splitClips(clips, { valFraction: 0.2, by, seed: 42 });
    const b = splitClips(clips, { valFraction: 0.2, by, seed: 42 });
    assert.deepEqual(a, b);
    const c = splitClips(clips, { valFraction: 0.2, by, seed: 43 });
    assert.notDeepEqual(a.val, c.val);
    assert.equal(a.train.length + a.val.length, clips.length);
    assert.deepEqual([...a.train, ...a.val].sort((x, y) => x - y), clips.map((_, i) => i));
  }
});

test('clip split is stratified: each label holds out its share', () => {
  const clips = corpus();
  const s = splitClips(clips, { valFraction: 0.25, by: 'clip', seed: 1 });
  for (let l = 0; l < 4; l++) assert.equal(s.val.filter((i) => clips[i]?.labelIndex === l).length, 15);
});

test('voice split never puts a voice on both sides, and holds out about the asked share', () => {
  const clips = corpus();
  for (const seed of [1, 2, 3, 42]) {
    const s = splitClips(clips, { valFraction: 0.2, by: 'voice', seed });
    const trainVoices = new Set(s.train.map((i) => clips[i]?.group).filter((g) => g !== null));
    const valVoices = new Set(s.val.map((i) => clips[i]?.group).filter((g) => g !== null));
    for (const v of valVoices) assert.ok(!trainVoices.has(v), `voice ${v} on both sides (seed ${seed})`);
    assert.ok(s.val.length > 0.1 * clips.length && s.val.length < 0.3 * clips.length, `val share ${s.val.length}/${clips.length}`);
    // The 30 % voice is too big to hold out without wrecking the share.
    assert.ok(!valVoices.has('big-voice'));
  }
});

test('a split that leaves a label without training clips is refused', () => {
  const clips: SplitInput[] = [
    { labelIndex: 0, group: 'a' },
    { labelIndex: 0, group: 'b' },
    { labelIndex: 1, group: 'c' },
  ];
  assert.throws(() => checkSplit({ train: [0], val: [1, 2] }, clips, ['yes', 'no']), /label no has no clips left for training/);
});
