import { promises as fs } from 'node:fs';
import path from 'node:path';
import { writeFileAtomic } from '../io/write-file-atomic.js';

/**
 * A learned re-ranker of whole captions (Collins & Koo 2005 re-rank parses; Shen et al. 2004 re-rank
 * translations): a small network scores each candidate from its features (rerank-features.ts), and the
 * caption chosen is the one with the best score plus logProbWeight x the model's own score. It is
 * trained per model (pipelines/train-reranker.ts) to pick, of each training image's candidates, the
 * one whose BLEU-4 against the references is best, and stored beside the model as reranker.json.
 */
export interface Reranker {
  /** modelIdOf of the model it was trained for: its features are that model's log-probabilities and detector outputs. */
  modelId: string;
  inputs: number;
  hidden: number;
  /** Feature standardisation: (x - mean) / std. */
  mean: Float32Array;
  std: Float32Array;
  /** [inputs, hidden] row-major, then [hidden], then [hidden]: score = relu(z W1 + b1) . w2. */
  w1: Float32Array;
  b1: Float32Array;
  w2: Float32Array;
  /** Weight of the model's own score (Hypothesis.score) beside the network's. */
  logProbWeight: number;
  /** Openings whose greedy completions join the beam's captions as candidates (words). */
  openings: string[][];
  /** Bigrams ("w1 w2"; <s> and </s> mark start and end) whose counts in a caption end its features. */
  bigrams: string[];
  /** Free-form record of how it was trained (data, epochs, validation). */
  trained: Record<string, unknown>;
}

export const RERANKER_FILE = 'reranker.json';
const KIND = 'caption-reranker';
const FORMAT_VERSION = 1;

/** What scoring needs of a re-ranker: its network and the standardisation of its inputs. */
export type RerankerNet = Pick<Reranker, 'inputs' | 'hidden' | 'mean' | 'std' | 'w1' | 'b1' | 'w2'>;

/** The network's score of one feature vector (without the model's own score). */
export function rerankerScore(r: RerankerNet, x: Float32Array): number {
  if (x.length !== r.inputs) throw new RangeError(`rerankerScore: ${x.length} features, the re-ranker takes ${r.inputs}`);
  const h = Float64Array.from(shiftedBias(r));
  for (let i = 0; i < r.inputs; i++) {
    if (x[i] === 0) continue;
    const z = x[i]! / r.std[i]!;
    const row = i * r.hidden;
    for (let j = 0; j < r.hidden; j++) h[j]! += z * r.w1[row + j]!;
  }
  let s = 0;
  for (let j = 0; j < r.hidden; j++) s += Math.max(0, h[j]!) * r.w2[j]!;
  return s;
}

const shiftedBiases = new WeakMap<RerankerNet, Float64Array>();

/**
 * b1 - (mean / std) W1, computed once per network: relu(((x - mean) / std) W1 + b1) equals
 * relu((x / std) W1 + that), so only x's non-zero entries cost work. Most features are counts of
 * words, bigrams and phrases a caption does not use: with bigrams and an ensemble of three the
 * standardised form spent ~400k multiply-adds per candidate.
 */
function shiftedBias(r: RerankerNet): Float64Array {
  let b = shiftedBiases.get(r);
  if (b) return b;
  b = Float64Array.from(r.b1);
  for (let i = 0; i < r.inputs; i++) {
    const shift = r.mean[i]! / r.std[i]!;
    if (shift === 0) continue;
    const row = i * r.hidden;
    for (let j = 0; j < r.hidden; j++) b[j]! -= shift * r.w1[row + j]!;
  }
  shiftedBiases.set(r, b);
  return b;
}

/**
 * The JSON form of a re-ranker. The arrays are base64 of little-endian float32: exact, and a third of
 * the size of decimal text (an ensemble of three networks over ~1,000 inputs was 4.3 MB as numbers).
 */
export function rerankerToJSON(r: Reranker): Record<string, unknown> {
  return {
    formatVersion: FORMAT_VERSION,
    kind: KIND,
    modelId: r.modelId,
    inputs: r.inputs,
    hidden: r.hidden,
    logProbWeight: r.logProbWeight,
    openings: r.openings,
    bigrams: r.bigrams,
    trained: r.trained,
    mean: float32Base64(r.mean),
    std: float32Base64(r.std),
    w1: float32Base64(r.w1),
    b1: float32Base64(r.b1),
    w2: float32Base64(r.w2),
  };
}

function float32Base64(a: Float32Array): string {
  const bytes = new DataView(new ArrayBuffer(a.length * 4));
  a.forEach((v, i) => bytes.setFloat32(i * 4, v, true));
  return Buffer.from(bytes.buffer).toString('base64');
}

/** The floats of a base64 string of little-endian float32, or undefined when its length is not a whole number of them. */
function base64Float32(text: string): Float32Array | undefined {
  const bytes = Buffer.from(text, 'base64');
  if (bytes.length % 4 !== 0) return undefined;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.length);
  return Float32Array.from({ length: bytes.length / 4 }, (_, i) => view.getFloat32(i * 4, true));
}

/** Parses a re-ranker's JSON; `source` names it in errors. */
export function parseReranker(json: unknown, source: string): Reranker {
  const fail = (what: string): never => {
    throw new TypeError(`${source}: ${what}`);
  };
  if (typeof json !== 'object' || json === null) fail('is not a JSON object');
  const o = json as Record<string, unknown>;
  if (o.kind !== KIND || o.formatVersion !== FORMAT_VERSION) fail(`is not a ${KIND} of formatVersion ${FORMAT_VERSION} (kind ${String(o.kind)}, formatVersion ${String(o.formatVersion)})`);
  const count = (key: string): number => {
    const n = o[key];
    return typeof n === 'number' && Number.isInteger(n) && n >= 1 ? n : fail(`"${key}" must be an integer >= 1`);
  };
  const inputs = count('inputs');
  const hidden = count('hidden');
  // Base64 float32 as written now, or a list of numbers as written before.
  const floats = (key: string, length: number): Float32Array => {
    const a = o[key];
    const values = typeof a === 'string' ? base64Float32(a) : Array.isArray(a) && a.every((v) => typeof v === 'number') ? Float32Array.from(a as number[]) : undefined;
    if (!values || values.length !== length || !values.every((v) => Number.isFinite(v))) fail(`"${key}" must be ${length} finite numbers (base64 float32 or a list)`);
    return values!;
  };
  const std = floats('std', inputs);
  if (std.some((v) => !(v > 0))) fail('"std" must be positive');
  const openings = o.openings;
  if (!Array.isArray(openings) || !openings.every((w) => Array.isArray(w) && w.length > 0 && w.every((x) => typeof x === 'string'))) fail('"openings" must be a list of non-empty word lists');
  // Absent in files written before bigram features: none.
  const bigrams = o.bigrams ?? [];
  if (!Array.isArray(bigrams) || !bigrams.every((b) => typeof b === 'string' && b.split(' ').length === 2)) fail('"bigrams" must be a list of two-word strings');
  if (typeof o.modelId !== 'string') fail('"modelId" must be a string');
  if (typeof o.logProbWeight !== 'number' || !(o.logProbWeight >= 0)) fail('"logProbWeight" must be a number >= 0');
  return {
    modelId: o.modelId as string,
    inputs,
    hidden,
    mean: floats('mean', inputs),
    std,
    w1: floats('w1', inputs * hidden),
    b1: floats('b1', hidden),
    w2: floats('w2', hidden),
    logProbWeight: o.logProbWeight as number,
    openings: openings as string[][],
    bigrams: bigrams as string[],
    trained: typeof o.trained === 'object' && o.trained !== null ? (o.trained as Record<string, unknown>) : {},
  };
}

/** The re-ranker stored in a model directory, or undefined when it has none. */
export async function readReranker(dir: string): Promise<Reranker | undefined> {
  const file = path.join(dir, RERANKER_FILE);
  const text = await fs.readFile(file, 'utf8').catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') return undefined;
    throw err;
  });
  if (text === undefined) return undefined;
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new TypeError(`${file}: not valid JSON (${(err as Error).message})`, { cause: err });
  }
  return parseReranker(json, file);
}

/** Writes reranker.json into a model directory, through a temporary file, so a reader never sees half of it. */
export async function writeReranker(dir: string, r: Reranker): Promise<string> {
  const file = path.join(dir, RERANKER_FILE);
  await writeFileAtomic(file, `${JSON.stringify(rerankerToJSON(r))}\n`);
  return file;
}
