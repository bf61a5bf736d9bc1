import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DatasetError } from '../../src/data/errors.js';
import { Vocabulary } from '../../src/data/vocabulary.js';
import { corpusBleu } from '../../src/metrics/bleu.js';
import { ciderD } from '../../src/metrics/cider.js';
import { readHypotheses, scoreFiles, tokenizeCaption } from '../../src/metrics/score-file.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'score-file-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function file(name: string, content: unknown): Promise<string> {
  const path = join(dir, name);
  await writeFile(path, typeof content === 'string' ? content : JSON.stringify(content));
  return path;
}

const REFS = {
  '1': ['A red circle above a blue square.', 'a red circle and a square'],
  '2': ['Two green triangles', 'two triangles that are green'],
  '3': ["a man's big hat", 'a big hat'],
};
const HYPS = { '1': 'a red circle above a square', '2': '<start> two green triangles <end>', '3': "A man's hat!" };

/** What the file scorer must compute, from the tokenised captions directly. */
function expected(): { bleu4: number; ciderD: number } {
  const ids = ['1', '2', '3'] as const;
  const h = ids.map((id) => tokenizeCaption(HYPS[id]));
  const r = ids.map((id) => REFS[id].map(tokenizeCaption));
  return { bleu4: corpusBleu(h, r).bleu[3], ciderD: ciderD(h, r).score };
}

describe('tokenizeCaption', () => {
  it('lower-cases, deletes apostrophes, splits other punctuation and drops special tokens', () => {
    expect(tokenizeCaption("<start> A Man's  T-shirt, (red). <end> <pad>")).toEqual(['a', 'mans', 't', 'shirt', 'red']);
    expect(tokenizeCaption('a <unk> dog')).toEqual(['a', '<unk>', 'dog']);
  });
});

describe('scoreFiles', () => {
  it('scores a JSON object, a JSON array and JSON Lines identically', async () => {
    const refs = await file('refs.json', REFS);
    const asObject = await file('h-object.json', HYPS);
    const asArray = await file('h-array.json', Object.entries(HYPS).map(([id, caption]) => ({ id: Number(id), caption })));
    const asLines = await file('h.jsonl', Object.entries(HYPS).map(([id, caption]) => JSON.stringify({ id, caption })).join('\n') + '\n');
    const want = expected();
    for (const hyps of [asObject, asArray, asLines]) {
      const r = await scoreFiles({ hyps, refs });
      expect(r.count).toBe(3);
      expect(r.bleu4).toBe(want.bleu4);
      expect(r.ciderD).toBe(want.ciderD);
      expect(r.bleu1).toBeGreaterThan(r.bleu4);
    }
  });

  it('reads a Karpathy file, filters a split, and accepts ids or file names', async () => {
    const images = Object.entries(REFS).map(([id, sents], i) => ({
      filename: `img${id}.jpg`,
      imgid: Number(id),
      split: i === 0 ? 'restval' : 'test',
      sentences: sents.map((raw) => ({ raw, tokens: tokenizeCaption(raw) })),
    }));
    const refs = await file('karpathy.json', { dataset: 'flickr8k', images });
    const hyps = await file('h-names.json', { 'img2.jpg': HYPS['2'], '3': HYPS['3'] });
    const r = await scoreFiles({ hyps, refs, split: 'test' });
    expect(r.count).toBe(2);
    await expect(scoreFiles({ hyps, refs })).rejects.toThrow(/lacks captions for 1 image\(s\).*"1".*pass --split/);
  });

  it('names the file and the entry of malformed input', async () => {
    const refs = await file('refs2.json', REFS);
    const badLine = await file('bad.jsonl', '{"id": "1", "caption": "a"}\n{"id": "2", caption: x}\n');
    await expect(scoreFiles({ hyps: badLine, refs })).rejects.toThrow(new RegExp(`${badLine}: line 2: not valid JSON`));
    const badEntry = await file('bad-entry.json', [{ id: '1', caption: 'a' }, { id: '2', text: 'b' }]);
    await expect(readHypotheses(badEntry)).rejects.toThrow(/bad-entry\.json: entry 1: expected \{"id": string \| number, "caption": string\}/);
    const badRefs = await file('bad-refs.json', { '1': 'not a list' });
    await expect(scoreFiles({ hyps: badEntry, refs: badRefs })).rejects.toThrow(/bad-entry\.json: entry 1/);
    const hyps = await file('ok.json', { '1': 'a' });
    await expect(scoreFiles({ hyps, refs: badRefs })).rejects.toThrow(/bad-refs\.json: entry "1": expected a non-empty array/);
    await expect(scoreFiles({ hyps, refs: join(dir, 'nope.json') })).rejects.toBeInstanceOf(DatasetError);
    const dup = await file('dup.jsonl', '{"id": 1, "caption": "a"}\n{"id": "1", "caption": "b"}\n');
    await expect(readHypotheses(dup)).rejects.toThrow(/line 2: id "1" appears twice/);
  });

  it('rejects ids present in only one of the files, naming the file that lacks them', async () => {
    const refs = await file('refs3.json', REFS);
    const fewer = await file('fewer.json', { '1': HYPS['1'] });
    await expect(scoreFiles({ hyps: fewer, refs })).rejects.toThrow(/fewer\.json: lacks captions for 2 image\(s\) of .*refs3\.json: "2", "3"/);
    const more = await file('more.json', { ...HYPS, '9': 'a cat' });
    await expect(scoreFiles({ hyps: more, refs })).rejects.toThrow(/refs3\.json: has no references for 1 id\(s\) of .*more\.json: "9"/);
  });

  it('maps words outside a vocabulary to <unk> on both sides when one is given, as the reference scores ids', async () => {
    const refs = await file('refs5.json', { '1': ['a zebra on grass'], '2': ['a dog on grass'] });
    const hyps = await file('h5.json', { '1': 'a <unk> on grass', '2': 'a dog on grass' });
    const vocabulary = Vocabulary.build([['a', 'dog', 'on', 'grass']], 0);
    const plain = await scoreFiles({ hyps, refs });
    const asIds = await scoreFiles({ hyps, refs, vocabulary });
    expect(plain.bleu1).toBeCloseTo(7 / 8, 12);
    expect(asIds.bleu1).toBe(1);
  });

  it('accepts a single-line JSON Lines file', async () => {
    const refs = await file('refs4.json', { '1': REFS['1'] });
    const one = await file('one.jsonl', JSON.stringify({ id: 1, caption: HYPS['1'] }) + '\n');
    expect((await scoreFiles({ hyps: one, refs })).count).toBe(1);
  });
});
