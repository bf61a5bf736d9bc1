import { describe, expect, it } from 'vitest';
import { from, lastValueFrom, toArray, EMPTY } from 'rxjs';
import { batchExamples, type ExampleWithImage } from '../../operators/batch-examples.js';
import { Vocabulary } from '../../src/data/vocabulary.js';

const vocab = Vocabulary.build([['a', 'red', 'circle'], ['a', 'blue', 'square', 'left']], 0);
const ex = (id: string, tokens: string[], v: number, size = 2): ExampleWithImage => ({
  id,
  tokens,
  image: { pixels: new Float32Array(size * size * 3).fill(v), size, sourceWidth: size, sourceHeight: size },
});

describe('batchExamples', () => {
  it('packs images, pads captions to the longest of the batch and keeps n + 2 lengths', async () => {
    const batches = await lastValueFrom(
      from([ex('1', ['a', 'red', 'circle'], 1), ex('2', ['a', 'blue', 'square', 'left'], 2), ex('3', ['a'], 3)]).pipe(
        batchExamples({ batchSize: 2, vocab, maxLen: 50 }),
        toArray(),
      ),
    );
    expect(batches.map((b) => b.batchSize)).toEqual([2, 1]);
    const [b0, b1] = batches;
    expect(b0!.ids).toEqual(['1', '2']);
    expect(b0!.maxLen).toBe(4);
    expect(b0!.captions.length).toBe(2 * 6);
    expect(Array.from(b0!.lengths)).toEqual([5, 6]);
    const row0 = Array.from(b0!.captions.slice(0, 6)).map((id) => vocab.wordOf(id));
    expect(row0).toEqual(['<start>', 'a', 'red', 'circle', '<end>', '<pad>']);
    expect(b0!.images.length).toBe(2 * 12);
    expect(b0!.images[0]).toBe(1);
    expect(b0!.images[12]).toBe(2);
    expect(b1!.maxLen).toBe(1);
    expect(Array.from(b1!.captions).map((id) => vocab.wordOf(id))).toEqual(['<start>', 'a', '<end>']);
    expect(b1!.imageSize).toBe(2);
  });

  it('cuts captions longer than maxLen and maps unknown words to <unk>', async () => {
    const [b] = await lastValueFrom(from([ex('1', ['a', 'zebra', 'red', 'circle'], 0)]).pipe(batchExamples({ batchSize: 4, vocab, maxLen: 2 }), toArray()));
    expect(Array.from(b!.captions).map((id) => vocab.wordOf(id))).toEqual(['<start>', 'a', '<unk>', '<end>']);
    expect(Array.from(b!.lengths)).toEqual([4]);
  });

  it('emits nothing for empty input, errors on mixed image sizes, rejects a bad batch size', async () => {
    expect(await lastValueFrom(EMPTY.pipe(batchExamples({ batchSize: 2, vocab, maxLen: 5 }), toArray()))).toEqual([]);
    await expect(lastValueFrom(from([ex('1', ['a'], 0, 2), ex('2', ['a'], 0, 3)]).pipe(batchExamples({ batchSize: 2, vocab, maxLen: 5 })))).rejects.toThrow(/image 2 is 3px/);
    expect(() => batchExamples({ batchSize: 0, vocab, maxLen: 5 })).toThrow(/batchSize/);
  });
});
