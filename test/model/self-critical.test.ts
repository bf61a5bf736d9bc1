import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../../src/backend/index.js';
import { corpusBleu } from '../../src/metrics/bleu.js';
import { ShowAttendTell, Trainer, defaultModelConfig, prepareTargets, teacherForcedLoss, type CaptionTargets } from '../../src/model/index.js';
import { advantages, bestReferenceBleu4, captionRows, selfCriticalBatch, sentenceBleu4 } from '../../src/model/self-critical.js';
import { tinyVocab } from './helpers.js';

const refs = [
  ['there', 'are', 'two', 'red', 'circles'],
  ['two', 'red', 'circles'],
  ['a', 'red', 'circle', 'next', 'to', 'a', 'red', 'circle'],
];

describe('sentenceBleu4', () => {
  it('is 1 for a caption that is one of the references, word for word', () => {
    expect(sentenceBleu4(['two', 'red', 'circles'], refs)).toBe(1);
    expect(sentenceBleu4(refs[2]!, refs)).toBe(1);
  });

  it('is NLTK corpus BLEU-4 of a one-caption corpus for captions of four words or more', () => {
    const longer = ['there', 'are', 'two', 'red', 'circles', 'and', 'a', 'star'];
    expect(sentenceBleu4(longer, refs)).toBeGreaterThan(0.3);
    expect(sentenceBleu4(longer, refs)).toBeCloseTo(corpusBleu([longer], [refs]).bleu[3], 12);
    const short = ['two', 'red'];
    expect(sentenceBleu4(short, refs)).toBeCloseTo(Math.exp(1 - 3 / 2), 12); // every n-gram matches; only brevity costs
  });

  it('is 0 when an order has no match, and for an empty caption', () => {
    expect(sentenceBleu4(['there', 'is', 'a', 'red', 'circle', 'and', 'a', 'red', 'circle'], refs)).toBe(0); // no 4-gram of it is in a reference
    expect(sentenceBleu4(['red', 'circles', 'two'], refs)).toBe(0);
    expect(sentenceBleu4([], refs)).toBe(0);
  });
});

describe('bestReferenceBleu4', () => {
  const annotators = [
    ['there', 'is', 'a', 'green', 'diamond', 'and', 'a', 'green', 'triangle'],
    ['a', 'small', 'green', 'diamond', 'and', 'a', 'small', 'green', 'triangle'],
  ];

  it('gives a blend of two annotators less than either annotator, where multi-reference BLEU gives it the same', () => {
    const blend = ['there', 'is', 'a', 'green', 'diamond', 'and', 'a', 'small', 'green', 'triangle'];
    expect(bestReferenceBleu4(annotators[0]!, annotators)).toBe(1);
    expect(bestReferenceBleu4(annotators[1]!, annotators)).toBe(1);
    expect(sentenceBleu4(blend, annotators)).toBe(1); // every n-gram of the blend is in one reference or the other
    expect(bestReferenceBleu4(blend, annotators)).toBeLessThan(0.8);
    expect(bestReferenceBleu4(blend, annotators)).toBe(Math.max(sentenceBleu4(blend, [annotators[0]!]), sentenceBleu4(blend, [annotators[1]!])));
    expect(bestReferenceBleu4(blend, [])).toBe(0);
  });
});

describe('advantages', () => {
  it('subtracts the mean reward of the image', () => {
    const a = advantages([1, 0.5, 0, 0.5]);
    expect(a).toEqual([0.5, 0, -0.5, 0]);
    expect(advantages([])).toEqual([]);
  });
});

describe('selfCriticalBatch', () => {
  const START = 1;
  const PAD = 0;

  it('lays out the captions with an advantage as <start> rows, weights time-major, rows pointing at their image', () => {
    const batch = selfCriticalBatch(
      [
        { captions: [[5, 6, 2], [5, 2], [7, 6, 8]], rewards: [1, 0.5, 0] }, // advantages 0.5, 0, -0.5
        { captions: [[9, 2]], rewards: [0.7] }, // one caption: nothing to compare it with
        { captions: [[5, 6, 7, 8]], rewards: [0.2] },
        { captions: [[6, 2], [6, 7, 2]], rewards: [0.25, 0.75] }, // -0.25, +0.25
      ],
      START,
      PAD,
    )!;
    expect(batch.targets.batchSize).toBe(4);
    expect(Array.from(batch.rowImage)).toEqual([0, 0, 3, 3]);
    const width = 4; // <start> + the longest caption (3 ids)
    expect(Array.from(batch.targets.captions)).toEqual([1, 5, 6, 2, 1, 7, 6, 8, 1, 6, 2, 0, 1, 6, 7, 2]);
    expect(batch.targets.captions.length).toBe(4 * width);
    expect(Array.from(batch.targets.lengths)).toEqual([4, 4, 3, 4]);
    // step t, row i at t * rows + i; zero past a caption's end.
    expect(Array.from(batch.tokenWeights)).toEqual([0.5, -0.5, -0.25, 0.25, 0.5, -0.5, -0.25, 0.25, 0.5, -0.5, 0, 0.25]);
    // prepareTargets accepts it and its mask agrees with the weights.
    const p = prepareTargets(batch.targets);
    p.mask.forEach((m, i) => expect(m === 0).toBe(batch.tokenWeights[i] === 0));
  });

  it('is undefined when every image rewarded its captions alike, and refuses mismatched rewards', () => {
    expect(selfCriticalBatch([{ captions: [[5, 2], [6, 2]], rewards: [1, 1] }], START, PAD)).toBeUndefined();
    expect(() => selfCriticalBatch([{ captions: [[5, 2]], rewards: [1, 0] }], START, PAD)).toThrow(/image 0: 1 captions but 2 rewards/);
  });
});

describe('Trainer.weightedDecoderStep', () => {
  const vocab = tinyVocab();
  const config = defaultModelConfig({ vocabSize: vocab.size, encoder: { kind: 'compact-cnn', channels: [8, 16] }, gridSize: 4, attentionDim: 16, embedDim: 16, decoderDim: 32, dropout: 0.1 });
  const ids = (words: string[]) => [...words.map((w) => vocab.idOf(w)), vocab.endId];
  const liked = ids(['a', 'red', 'circle']);
  const disliked = ids(['a', 'blue', 'square']);

  beforeAll(async () => {
    await initBackend();
  });

  /** Per-caption cross-entropy (mean over its targets) of the two captions on the same image. */
  function crossEntropies(model: ShowAttendTell, features: tf.Tensor3D): [number, number] {
    return [liked, disliked].map((caption) => {
      const targets = selfCriticalBatch([{ captions: [caption, caption], rewards: [1, 0] }], vocab.startId, vocab.padId)!.targets;
      const one: CaptionTargets = { batchSize: 1, captions: targets.captions.slice(0, targets.captions.length / 2), lengths: targets.lengths.slice(0, 1) };
      return tf.tidy(() => teacherForcedLoss(model, tf.slice(features, 0, 1), prepareTargets(one), { alphaC: 0, training: false, seed: 1, oneHotEmbedding: true }).crossEntropy.dataSync()[0]!);
    }) as [number, number];
  }

  it('makes the caption with the positive advantage more likely and the other less, leaving the encoder alone and leaking nothing', async () => {
    const model = ShowAttendTell.create(config, { seed: 3 });
    const trainer = new Trainer(model, { decoderLr: 3e-3, encoderLr: 1e-2, alphaC: 0, clipValue: 5, clipNorm: 0, scheduledSampling: 0, seed: 1 });
    const features = tf.tidy(() => model.encode(tf.randomUniform([1, 16, 16, 3], -1, 1, 'float32', 4) as tf.Tensor4D, false));
    const batch = selfCriticalBatch([{ captions: [liked, disliked], rewards: [1, 0] }], vocab.startId, vocab.padId)!;
    const rows = tf.tidy(() => tf.gather(features, tf.tensor1d(batch.rowImage, 'int32')) as tf.Tensor3D);
    const encoder0 = model.encoderVariables().map((v) => v.variable.dataSync().slice());
    const [likedBefore, dislikedBefore] = crossEntropies(model, features);
    await trainer.weightedDecoderStep(rows, batch.targets, batch.tokenWeights); // Adam's moments now exist
    const before = tf.memory().numTensors;
    for (let i = 0; i < 14; i++) await trainer.weightedDecoderStep(rows, batch.targets, batch.tokenWeights);
    expect(tf.memory().numTensors).toBe(before);
    const [likedAfter, dislikedAfter] = crossEntropies(model, features);
    expect(likedAfter).toBeLessThan(likedBefore - 0.05);
    expect(dislikedAfter).toBeGreaterThan(dislikedBefore + 0.05);
    model.encoderVariables().forEach((v, i) => expect(v.variable.dataSync()).toEqual(encoder0[i]));
    expect(trainer.steps).toBe(15);
    await expect(trainer.weightedDecoderStep(rows, batch.targets, new Float32Array(3))).rejects.toThrow(/tokenWeights has 3 entries/);
    tf.dispose([features, rows]);
    trainer.dispose();
    model.dispose();
  });

  it('applyDecoderShards of two shards\' gradients takes the step weightedDecoderStep takes on all their rows', async () => {
    const [a, b] = [ShowAttendTell.create(config, { seed: 5 }), ShowAttendTell.create(config, { seed: 5 })] as const;
    const options = { decoderLr: 3e-3, encoderLr: 0, alphaC: 0, clipValue: 5, clipNorm: 0, scheduledSampling: 0, seed: 1 };
    const [whole, sharded] = [new Trainer(a, options), new Trainer(b, options)];
    const features = tf.tidy(() => a.encode(tf.randomUniform([2, 16, 16, 3], -1, 1, 'float32', 6) as tf.Tensor4D, false));
    const groups = [
      { captions: [liked, disliked, ids(['a', 'red'])], rewards: [1, 0, 0.5] },
      { captions: [ids(['green']), disliked], rewards: [0.2, 0.9] },
    ];
    const rowsOf = (gs: typeof groups, images: number[]) => {
      const batch = selfCriticalBatch(gs, vocab.startId, vocab.padId)!;
      const rows = tf.tidy(() => tf.gather(tf.gather(features, tf.tensor1d(images, 'int32')), tf.tensor1d(batch.rowImage, 'int32')) as tf.Tensor3D);
      return { batch, rows };
    };
    const all = rowsOf(groups, [0, 1]);
    const first = rowsOf([groups[0]!], [0]);
    const second = rowsOf([groups[1]!], [1]);
    let before = 0;
    for (let step = 0; step < 3; step++) {
      if (step === 1) before = tf.memory().numTensors; // Adam's moments exist after the first step
      const one = await whole.weightedDecoderStep(all.rows, all.batch.targets, all.batch.tokenWeights);
      const shards = [
        await sharded.weightedDecoderGradients(first.rows, first.batch.targets, first.batch.tokenWeights),
        await sharded.weightedDecoderGradients(second.rows, second.batch.targets, second.batch.tokenWeights),
      ];
      // "a red" has no advantage (0.5 is its image's mean), so 4 + 4 targets against 2 + 4: unequal shares.
      expect(shards.map((g) => g.tokens)).toEqual([8, 6]);
      const two = await sharded.applyDecoderShards(shards);
      expect(two.tokens).toBe(one.tokens);
      expect(two.loss).toBeCloseTo(one.loss, 5);
    }
    const [wa, wb] = [await whole.decoderWeights(), await sharded.decoderWeights()];
    wa.forEach((w, i) => w.forEach((x, j) => expect(Math.abs(x - wb[i]![j]!)).toBeLessThan(1e-5)));
    expect(tf.memory().numTensors).toBe(before);
    await expect(sharded.applyDecoderShards([])).rejects.toThrow(/at least one shard/);
    tf.dispose([features, all.rows, first.rows, second.rows]);
    [whole, sharded].forEach((t) => t.dispose());
    [a, b].forEach((m) => m.dispose());
  });

  it('captionRows lays captions out as <start> rows padded to the longest, and refuses an empty caption', () => {
    const rows = captionRows([liked, [vocab.idOf('green'), vocab.endId]], vocab.startId, vocab.padId);
    expect(Array.from(rows.lengths)).toEqual([5, 3]);
    expect(Array.from(rows.captions)).toEqual([vocab.startId, ...liked, vocab.startId, vocab.idOf('green'), vocab.endId, vocab.padId, vocab.padId]);
    expect(() => captionRows([[]], vocab.startId, vocab.padId)).toThrow(/none of them empty/);
  });

  it('refuses annotations whose rows do not match the captions', async () => {
    const model = ShowAttendTell.create(config, { seed: 3 });
    const trainer = new Trainer(model, { decoderLr: 1e-2, encoderLr: 0, alphaC: 0, clipValue: 5, clipNorm: 0, scheduledSampling: 0, seed: 1 });
    const batch = selfCriticalBatch([{ captions: [liked, disliked], rewards: [1, 0] }], vocab.startId, vocab.padId)!;
    const features = tf.zeros([3, 16, config.encoderDim]) as tf.Tensor3D;
    await expect(trainer.weightedDecoderStep(features, batch.targets, batch.tokenWeights)).rejects.toThrow(/3 rows of annotations for 2 captions/);
    features.dispose();
    trainer.dispose();
    model.dispose();
  });
});
