/**
 * The logic of `captioner score --hyps FILE --refs FILE [--split S]`: BLEU-1..4 (NLTK) and CIDEr-D
 * (coco-caption) of a file of generated captions against a file of references.
 *
 * Hypotheses: a JSON object {"<id>": "caption", ...}, a JSON array [{"id": ..., "caption": ...}], or
 * JSON Lines with one {"id": ..., "caption": ...} per line.
 * References: a JSON object {"<id>": ["ref 1", "ref 2", ...]}, or a Karpathy split JSON
 * ({"images": [...]}), whose image id is cocoid, else imgid (as src/data/karpathy.ts), and whose
 * file name is accepted as an id too; with a split, only that split's images are scored ("restval"
 * counts as train). Karpathy references use each sentence's "tokens" (else "raw").
 *
 * Tokenisation (both sides, see {@link tokenizeCaption}): lower case, split on whitespace, apostrophes
 * deleted ("man's" -> "mans", as Karpathy's tokens), other punctuation turned into spaces ("t-shirt"
 * -> "t shirt"), <start>/<end>/<pad> removed. There is no PTB tokeniser, so scores can differ slightly
 * from coco-caption's on raw text; on Karpathy tokens they agree.
 */
import { readFile } from 'node:fs/promises';
import { DatasetError } from '../data/errors.js';
import type { Split } from '../data/types.js';
import type { Vocabulary } from '../data/vocabulary.js';
import { corpusBleu, stripSpecialTokens } from './bleu.js';
import { ciderD } from './cider.js';

export interface ScoreResult {
  bleu1: number;
  bleu2: number;
  bleu3: number;
  bleu4: number;
  ciderD: number;
  /** Number of images scored. */
  count: number;
}

export interface ScoreFilesOptions {
  /** Path of the hypotheses file. */
  hyps: string;
  /** Path of the references file. */
  refs: string;
  /** For a Karpathy references file: score only this split. */
  split?: Split;
  /**
   * Score as the reference's eval does, on word ids: words outside this vocabulary become <unk> on
   * both sides (so a hypothesis <unk> matches a reference's rare word). Without it, words are scored
   * as written, the usual coco-caption convention.
   */
  vocabulary?: Pick<Vocabulary, 'idOf' | 'wordOf'>;
}

/** Replaces words outside the vocabulary by <unk>, as encoding to ids and back would. */
export function mapUnknownWords(tokens: string[], vocabulary: Pick<Vocabulary, 'idOf' | 'wordOf'>): string[] {
  return tokens.map((t) => vocabulary.wordOf(vocabulary.idOf(t)));
}

const SPECIAL = /^<[a-z]+>$/;

/** Lower-cases and splits a caption into words as described in the module comment. */
export function tokenizeCaption(text: string): string[] {
  const words: string[] = [];
  for (const raw of text.toLowerCase().split(/\s+/)) {
    if (raw === '') continue;
    if (SPECIAL.test(raw)) {
      words.push(raw);
      continue;
    }
    const cleaned = raw.replace(/['\u2019]/g, '').replace(/[^\p{L}\p{N}]+/gu, ' ');
    for (const w of cleaned.split(' ')) if (w !== '') words.push(w);
  }
  return stripSpecialTokens(words);
}

async function readText(file: string, what: string): Promise<string> {
  try {
    return await readFile(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new DatasetError(file, `cannot read the ${what} file (${code ?? String(err)}); check the path`, { cause: err });
  }
}

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

function hypEntry(file: string, where: string, v: unknown): [string, string] {
  if (!isRecord(v) || (typeof v.id !== 'string' && typeof v.id !== 'number') || typeof v.caption !== 'string') {
    throw new DatasetError(file, `${where}: expected {"id": string | number, "caption": string}, got ${JSON.stringify(v)?.slice(0, 80)}`);
  }
  return [String(v.id), v.caption];
}

function addUnique(file: string, where: string, map: Map<string, string[]>, id: string, caption: string): void {
  if (map.has(id)) throw new DatasetError(file, `${where}: id ${JSON.stringify(id)} appears twice; keep one caption per image`);
  map.set(id, tokenizeCaption(caption));
}

/** Reads a hypotheses file (JSON object, JSON array or JSON Lines) into id -> tokens. */
export async function readHypotheses(file: string): Promise<Map<string, string[]>> {
  const text = await readText(file, 'hypotheses');
  const out = new Map<string, string[]>();
  let json: unknown;
  let whole = true;
  try {
    json = JSON.parse(text);
  } catch {
    whole = false;
  }
  // A JSON Lines file of one line parses as a single {"id", "caption"} object.
  const singleLine = isRecord(json) && Object.keys(json).length === 2 && 'id' in json && typeof json.caption === 'string';
  if (singleLine) {
    const [id, cap] = hypEntry(file, 'line 1', json);
    addUnique(file, 'line 1', out, id, cap);
  } else if (whole && isRecord(json)) {
    for (const [id, cap] of Object.entries(json)) {
      if (typeof cap !== 'string') throw new DatasetError(file, `entry ${JSON.stringify(id)}: the caption must be a string, got ${JSON.stringify(cap)?.slice(0, 80)}`);
      addUnique(file, `entry ${JSON.stringify(id)}`, out, id, cap);
    }
  } else if (whole && Array.isArray(json)) {
    json.forEach((v, i) => {
      const [id, cap] = hypEntry(file, `entry ${i}`, v);
      addUnique(file, `entry ${i}`, out, id, cap);
    });
  } else if (whole) {
    throw new DatasetError(file, 'expected a JSON object {id: caption}, an array [{id, caption}] or JSON Lines');
  } else {
    text.split('\n').forEach((line, i) => {
      if (line.trim() === '') return;
      let v: unknown;
      try {
        v = JSON.parse(line);
      } catch (err) {
        throw new DatasetError(file, `line ${i + 1}: not valid JSON (${(err as Error).message}); each line must be {"id": ..., "caption": ...}`);
      }
      const [id, cap] = hypEntry(file, `line ${i + 1}`, v);
      addUnique(file, `line ${i + 1}`, out, id, cap);
    });
  }
  if (out.size === 0) throw new DatasetError(file, 'holds no captions');
  return out;
}

/** References of one image, with the other name it may go by (its Karpathy file name). */
export interface RefEntry {
  id: string;
  alias?: string;
  refs: string[][];
}

const KARPATHY_SPLITS: Record<string, Split> = { train: 'train', restval: 'train', val: 'val', test: 'test' };

function karpathyEntries(file: string, images: unknown[], split: Split | undefined): RefEntry[] {
  const out: RefEntry[] = [];
  images.forEach((img, i) => {
    const where = `images[${i}]`;
    if (!isRecord(img) || !Array.isArray(img.sentences)) throw new DatasetError(file, `${where}: expected an image with a "sentences" array`);
    const s = KARPATHY_SPLITS[String(img.split)];
    if (split !== undefined && s !== split) return;
    const idValue = img.cocoid ?? img.imgid ?? i;
    if (typeof idValue !== 'number' && typeof idValue !== 'string') throw new DatasetError(file, `${where}: "cocoid"/"imgid" must be a number or string`);
    const refs = img.sentences.map((sent, j) => {
      if (isRecord(sent) && Array.isArray(sent.tokens) && sent.tokens.every((t) => typeof t === 'string')) {
        return tokenizeCaption(sent.tokens.join(' '));
      }
      if (isRecord(sent) && typeof sent.raw === 'string') return tokenizeCaption(sent.raw);
      throw new DatasetError(file, `${where}.sentences[${j}]: expected "tokens" (string[]) or "raw" (string)`);
    });
    if (refs.length === 0) throw new DatasetError(file, `${where}: has no sentences; every scored image needs references`);
    out.push({ id: String(idValue), alias: typeof img.filename === 'string' ? img.filename : undefined, refs });
  });
  return out;
}

/** Reads references ({id: [captions]} or a Karpathy split JSON) into entries in file order. */
export async function readReferences(file: string, split?: Split): Promise<{ entries: RefEntry[]; karpathy: boolean }> {
  const text = await readText(file, 'references');
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new DatasetError(file, `not valid JSON (${(err as Error).message}); expected {id: [captions]} or a Karpathy split JSON`);
  }
  if (isRecord(json) && Array.isArray(json.images)) {
    const entries = karpathyEntries(file, json.images, split);
    if (entries.length === 0) throw new DatasetError(file, `no images${split ? ` in split "${split}"` : ''}`);
    return { entries, karpathy: true };
  }
  if (!isRecord(json)) throw new DatasetError(file, 'expected a JSON object {id: [captions]} or a Karpathy split JSON {"images": [...]}');
  if (split !== undefined) throw new DatasetError(file, `a split ("${split}") was given but this is not a Karpathy file; drop --split`);
  const entries = Object.entries(json).map(([id, refs]): RefEntry => {
    if (!Array.isArray(refs) || refs.length === 0 || !refs.every((r) => typeof r === 'string')) {
      throw new DatasetError(file, `entry ${JSON.stringify(id)}: expected a non-empty array of caption strings`);
    }
    return { id, refs: refs.map(tokenizeCaption) };
  });
  if (entries.length === 0) throw new DatasetError(file, 'holds no references');
  return { entries, karpathy: false };
}

function listIds(ids: string[]): string {
  const shown = ids.slice(0, 5).map((id) => JSON.stringify(id)).join(', ');
  return ids.length > 5 ? `${shown} and ${ids.length - 5} more` : shown;
}

/**
 * Scores a hypotheses file against a references file. Every image must be in both: an id present in
 * only one is an error naming the file that lacks it.
 */
export async function scoreFiles(opts: ScoreFilesOptions): Promise<ScoreResult> {
  const hyps = await readHypotheses(opts.hyps);
  const { entries, karpathy } = await readReferences(opts.refs, opts.split);
  const hypotheses: string[][] = [];
  const references: string[][][] = [];
  const used = new Set<string>();
  const missing: string[] = [];
  for (const e of entries) {
    const key = hyps.has(e.id) ? e.id : e.alias !== undefined && hyps.has(e.alias) ? e.alias : undefined;
    if (key === undefined) {
      missing.push(e.id);
      continue;
    }
    if (used.has(key)) throw new DatasetError(opts.refs, `id ${JSON.stringify(key)} names two images; ids must be unique`);
    used.add(key);
    hypotheses.push(hyps.get(key)!);
    references.push(e.refs);
  }
  if (missing.length > 0) {
    const hint = karpathy && opts.split === undefined ? ' (a Karpathy file: pass --split to score one split only)' : '';
    throw new DatasetError(opts.hyps, `lacks captions for ${missing.length} image(s) of ${opts.refs}: ${listIds(missing)}${hint}`);
  }
  const extra = [...hyps.keys()].filter((id) => !used.has(id));
  if (extra.length > 0) {
    throw new DatasetError(opts.refs, `has no references for ${extra.length} id(s) of ${opts.hyps}: ${listIds(extra)}`);
  }
  const vocab = opts.vocabulary;
  if (vocab) {
    hypotheses.forEach((h, i) => (hypotheses[i] = mapUnknownWords(h, vocab)));
    references.forEach((refs, i) => (references[i] = refs.map((r) => mapUnknownWords(r, vocab))));
  }
  const bleu = corpusBleu(hypotheses, references).bleu;
  return {
    bleu1: bleu[0],
    bleu2: bleu[1],
    bleu3: bleu[2],
    bleu4: bleu[3],
    ciderD: ciderD(hypotheses, references).score,
    count: hypotheses.length,
  };
}
