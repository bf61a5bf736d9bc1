/**
 * Word map built as the reference builds it: counts over every caption of every split, words with
 * frequency strictly greater than minWordFreq kept (sorted for determinism, see build()),
 * then <pad>=0, words 1..V, <unk>=V+1, <start>=V+2, <end>=V+3.
 */

export const PAD = '<pad>';
export const UNK = '<unk>';
export const START = '<start>';
export const END = '<end>';

export interface VocabularyJSON {
  formatVersion: 1;
  /** Index i holds the word with id i. */
  words: string[];
}

export class Vocabulary {
  readonly words: readonly string[];
  private readonly index: Map<string, number>;

  private constructor(words: string[]) {
    this.words = words;
    this.index = new Map(words.map((w, i) => [w, i]));
    for (const special of [PAD, UNK, START, END]) {
      if (!this.index.has(special)) throw new Error(`Vocabulary lacks the special token ${special}`);
    }
  }

  /**
   * Builds the word map from tokenised captions. Words are ordered by descending count, ties broken
   * alphabetically, so the same captions always give the same ids (the reference uses dict order).
   */
  static build(captions: Iterable<readonly string[]>, minWordFreq = 5): Vocabulary {
    const counts = new Map<string, number>();
    for (const tokens of captions) for (const t of tokens) counts.set(t, (counts.get(t) ?? 0) + 1);
    const kept = [...counts.entries()]
      .filter(([w, c]) => c > minWordFreq && ![PAD, UNK, START, END].includes(w))
      .sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0))
      .map(([w]) => w);
    return new Vocabulary([PAD, ...kept, UNK, START, END]);
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

  idOf(word: string): number {
    return this.index.get(word) ?? this.unkId;
  }

  wordOf(id: number): string {
    const w = this.words[id];
    if (w === undefined) throw new RangeError(`Word id ${id} is outside the vocabulary (size ${this.size})`);
    return w;
  }

  /** <start> w1..wn <end> padded with <pad> to maxLen + 2 ids; returns the ids and n + 2. */
  encode(tokens: readonly string[], maxLen: number): { ids: number[]; length: number } {
    if (tokens.length > maxLen) throw new RangeError(`Caption of ${tokens.length} tokens exceeds maxLen ${maxLen}`);
    const ids = [this.startId, ...tokens.map((t) => this.idOf(t)), this.endId];
    const length = ids.length;
    while (ids.length < maxLen + 2) ids.push(this.padId);
    return { ids, length };
  }

  /** Words of an id sequence with <start>, <end> and <pad> removed (the scoring convention). */
  decode(ids: Iterable<number>): string[] {
    const out: string[] = [];
    for (const id of ids) {
      if (id === this.startId || id === this.padId) continue;
      if (id === this.endId) break;
      out.push(this.wordOf(id));
    }
    return out;
  }
}
