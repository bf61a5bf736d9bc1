/**
 * Word map built as the reference builds it: counts over every caption of every split, words with
 * frequency strictly greater than minWordFreq kept (sorted for determinism, see build()),
 * then <pad>=0, words 1..V, <unk>=V+1, <start>=V+2, <end>=V+3. A vocabulary built for annotator
 * styles (build's `styles` > 1) appends one start token per further style, <start1> .. <startK-1>: a
 * caption in annotator i's style is fed <start{i}> first (style 0 keeps <start>), so the decoder
 * knows from its first input which annotator's wording to follow, and decoding from <start> asks for
 * annotator 0's. The data set names each caption's annotator (CaptionedImage.annotators; the
 * synthetic sets' five styles, src/data/synthetic/captions.ts).
 */

export const PAD = '<pad>';
export const UNK = '<unk>';
export const START = '<start>';
export const END = '<end>';
/** The start token of annotator style i (style 0 is <start>). */
export const styleStart = (style: number): string => (style === 0 ? START : `<start${style}>`);

export interface VocabularyJSON {
  formatVersion: 1;
  /** Index i holds the word with id i. */
  words: string[];
}

export class Vocabulary {
  readonly words: readonly string[];
  /** startIds[i]: the id fed first for a caption in annotator style i; [startId] without styles. */
  readonly startIds: readonly number[];
  private readonly index: Map<string, number>;

  private constructor(words: string[]) {
    this.words = words;
    this.index = new Map(words.map((w, i) => [w, i]));
    for (const special of [PAD, UNK, START, END]) {
      if (!this.index.has(special)) throw new Error(`Vocabulary lacks the special token ${special}`);
    }
    const startIds = [this.index.get(START)!];
    for (let i = 1; this.index.has(styleStart(i)); i++) startIds.push(this.index.get(styleStart(i))!);
    this.startIds = startIds;
  }

  /**
   * Builds the word map from tokenised captions. Words are ordered by descending count, ties broken
   * alphabetically, so the same captions always give the same ids (the reference uses dict order).
   */
  static build(captions: Iterable<readonly string[]>, minWordFreq = 5, styles = 1): Vocabulary {
    if (!(Number.isInteger(styles) && styles >= 1)) throw new RangeError(`Vocabulary.build: styles must be an integer >= 1 (got ${styles})`);
    const counts = new Map<string, number>();
    for (const tokens of captions) for (const t of tokens) counts.set(t, (counts.get(t) ?? 0) + 1);
    const kept = [...counts.entries()]
      .filter(([w, c]) => c > minWordFreq && ![PAD, UNK, START, END].includes(w))
      .sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0))
      .map(([w]) => w);
    const styleStarts = Array.from({ length: styles - 1 }, (_, i) => styleStart(i + 1));
    return new Vocabulary([PAD, ...kept.filter((w) => !styleStarts.includes(w)), UNK, START, END, ...styleStarts]);
  }

  static fromJSON(json: unknown, source = 'vocabulary'): Vocabulary {
    const j = json as Partial<VocabularyJSON> | null;
    if (!j || j.formatVersion !== 1 || !Array.isArray(j.words) || !j.words.every((w) => typeof w === 'string')) {
      throw new Error(`${source}: not a vocabulary of format version 1 ({ formatVersion: 1, words: string[] })`);
    }
    return new Vocabulary([...j.words]);
  }

  toJSON(): VocabularyJSON {
    return { formatVersion: 1, words: [...this.words] };
  }

  get size(): number {
    return this.words.length;
  }
  get padId(): number {
    return this.index.get(PAD)!;
  }
  get unkId(): number {
    return this.index.get(UNK)!;
  }
  get startId(): number {
    return this.index.get(START)!;
  }
  get endId(): number {
    return this.index.get(END)!;
  }
  /** Annotator styles the vocabulary has start tokens for (1: none beyond <start>). */
  get styleCount(): number {
    return this.startIds.length;
  }
  /** True for <start> and every style's start token: fed as inputs, never predicted. */
  isStart(id: number): boolean {
    return this.startIds.includes(id);
  }

  idOf(word: string): number {
    return this.index.get(word) ?? this.unkId;
  }

  wordOf(id: number): string {
    const w = this.words[id];
    if (w === undefined) throw new RangeError(`Word id ${id} is outside the vocabulary (size ${this.size})`);
    return w;
  }

  /**
   * <start> w1..wn <end> padded with <pad> to maxLen + 2 ids; returns the ids and n + 2. `style` (the
   * caption's annotator) picks the start token of style `style % styleCount`, so without styles every
   * caption starts with <start>.
   */
  encode(tokens: readonly string[], maxLen: number, style = 0): { ids: number[]; length: number } {
    if (tokens.length > maxLen) throw new RangeError(`Caption of ${tokens.length} tokens exceeds maxLen ${maxLen}`);
    const ids = [this.startIds[style % this.startIds.length]!, ...tokens.map((t) => this.idOf(t)), this.endId];
    const length = ids.length;
    while (ids.length < maxLen + 2) ids.push(this.padId);
    return { ids, length };
  }

  /** Words of an id sequence with <start>, <end> and <pad> removed (the scoring convention). */
  decode(ids: Iterable<number>): string[] {
    const out: string[] = [];
    for (const id of ids) {
      if (this.isStart(id) || id === this.padId) continue;
      if (id === this.endId) break;
      out.push(this.wordOf(id));
    }
    return out;
  }
}
