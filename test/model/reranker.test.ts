import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { parseReranker, readReranker, rerankerScore, rerankerToJSON, writeReranker, type Reranker } from '../../src/model/index.js';

/** Three inputs, two hidden units; every number chosen so the score is easy to check by hand. */
function tinyReranker(): Reranker {
  return {
    modelId: 'abc123def456',
    inputs: 3,
    hidden: 2,
    mean: Float32Array.from([1, 0, 0]),
    std: Float32Array.from([2, 1, 0.5]),
    // Row i holds input i's weights to the two hidden units.
    w1: Float32Array.from([1, -1, 0.5, 2, 0, 1]),
    b1: Float32Array.from([0.25, -3]),
    w2: Float32Array.from([2, -1]),
    logProbWeight: 0.1,
    openings: [['there', 'are'], ['a']],
    bigrams: ['<s> there', 'red circle'],
    trained: { note: 'fixture' },
  };
}

describe('learned re-ranker: scoring and its file', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'reranker-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('scores relu(standardised x . W1 + b1) . w2', () => {
    const r = tinyReranker();
    // z = ((3 - 1) / 2, 1 / 1, 1 / 0.5) = (1, 1, 2); hidden = (1 + 0.5 + 0 + 0.25, -1 + 2 + 2 - 3) = (1.75, 0).
    expect(rerankerScore(r, Float32Array.from([3, 1, 1]))).toBeCloseTo(3.5, 6);
    // z = (0, -1, 0): hidden = (0.25 - 0.5, -3 - 2) = both negative, so relu leaves nothing.
    expect(rerankerScore(r, Float32Array.from([1, -1, 0]))).toBe(0);
    expect(() => rerankerScore(r, Float32Array.from([1, 2]))).toThrow(/2 features, the re-ranker takes 3/);
  });

  it('writes reranker.json whole and reads back the same network', async () => {
    const r = tinyReranker();
    const file = await writeReranker(dir, r);
    expect(file).toBe(join(dir, 'reranker.json'));
    expect(await readdir(dir)).toEqual(['reranker.json']);
    const back = await readReranker(dir);
    expect(back).toEqual(r);
    expect(rerankerScore(back!, Float32Array.from([3, 1, 1]))).toBeCloseTo(3.5, 6);
  });

  it('reads nothing from a directory without one', async () => {
    expect(await readReranker(dir)).toBeUndefined();
  });

  it('refuses a damaged file, naming it and what is wrong', async () => {
    const file = join(dir, 'reranker.json');
    await writeFile(file, '{"kind": "caption-reranker", ');
    await expect(readReranker(dir)).rejects.toThrow(`${file}: not valid JSON`);
    const good = rerankerToJSON(tinyReranker());
    const bad = (patch: Record<string, unknown>) => () => parseReranker({ ...good, ...patch }, 'r.json');
    expect(bad({ kind: 'something-else' })).toThrow(/^r\.json: is not a caption-reranker/);
    expect(bad({ w1: [1, 2, 3] })).toThrow(/^r\.json: "w1" must be 6 finite numbers/);
    expect(bad({ w1: Buffer.from(new Float32Array(5).buffer).toString('base64') })).toThrow(/^r\.json: "w1" must be 6 finite numbers/);
    expect(bad({ w2: Buffer.from(Float32Array.from([1, Number.NaN]).buffer).toString('base64') })).toThrow(/^r\.json: "w2" must be 2 finite numbers/);
    expect(bad({ b1: 'abc' })).toThrow(/^r\.json: "b1" must be 2 finite numbers/);
    expect(bad({ std: [1, 0, 1] })).toThrow(/^r\.json: "std" must be positive/);
    expect(bad({ hidden: 0 })).toThrow(/^r\.json: "hidden" must be an integer >= 1/);
    expect(bad({ openings: [[]] })).toThrow(/^r\.json: "openings" must be a list of non-empty word lists/);
    expect(bad({ logProbWeight: -1 })).toThrow(/^r\.json: "logProbWeight" must be a number >= 0/);
    expect(bad({ bigrams: ['red'] })).toThrow(/^r\.json: "bigrams" must be a list of two-word strings/);
  });

  it('stores the arrays as base64 float32, exactly, and still reads the lists of numbers of older files', () => {
    const r = { ...tinyReranker(), w1: Float32Array.from([1 / 3, -1e-7, 0.5, 2, 0, Math.PI]) };
    const json = rerankerToJSON(r);
    expect(typeof json.w1).toBe('string');
    expect(parseReranker(JSON.parse(JSON.stringify(json)), 'r.json').w1).toEqual(r.w1); // bit for bit
    const older = { ...json, mean: Array.from(r.mean), std: Array.from(r.std), w1: Array.from(r.w1), b1: Array.from(r.b1), w2: Array.from(r.w2) };
    expect(parseReranker(older, 'r.json')).toEqual(r);
  });

  it('reads a file written before bigram features as having none', () => {
    const { bigrams: _bigrams, ...older } = rerankerToJSON(tinyReranker());
    expect(parseReranker(older, 'r.json').bigrams).toEqual([]);
  });
});
