/**
 * A fixed-capacity FIFO: pushing beyond capacity overwrites the oldest item. The dashboard keeps every
 * history (captions, stats, training steps) in one of these so a page left open for days stays bounded.
 */
export class RingBuffer<T> {
  private readonly items: (T | undefined)[];
  private start = 0;
  private count = 0;
  /** How many items were ever pushed (including overwritten ones); lets views detect new items cheaply. */
  total = 0;

  /** @param capacity the maximum number of items kept; a positive integer. */
  constructor(readonly capacity: number) {
    if (!Number.isInteger(capacity) || capacity <= 0) {
      throw new RangeError(`RingBuffer capacity (${capacity}) must be a positive integer`);
    }
    this.items = new Array<T | undefined>(capacity);
  }

  /** Number of items currently held (at most capacity). */
  get length(): number {
    return this.count;
  }

  /** Appends an item, dropping the oldest when full. */
  push(item: T): void {
    const end = (this.start + this.count) % this.capacity;
    this.items[end] = item;
    if (this.count < this.capacity) this.count++;
    else this.start = (this.start + 1) % this.capacity;
    this.total++;
  }

  /** The i-th oldest item held (0 = oldest), or undefined when out of range. */
  at(i: number): T | undefined {
    if (i < 0) i += this.count;
    if (i < 0 || i >= this.count) return undefined;
    return this.items[(this.start + i) % this.capacity];
  }

  /** The newest item, or undefined when empty. */
  last(): T | undefined {
    return this.at(this.count - 1);
  }

  /** The items held, oldest first (a copy). */
  toArray(): T[] {
    const out: T[] = [];
    for (let i = 0; i < this.count; i++) out.push(this.items[(this.start + i) % this.capacity] as T);
    return out;
  }

  /** Maps the held items, oldest first, into a new array (e.g. one chart column). */
  map<U>(fn: (item: T, i: number) => U): U[] {
    const out: U[] = new Array<U>(this.count);
    for (let i = 0; i < this.count; i++) out[i] = fn(this.items[(this.start + i) % this.capacity] as T, i);
    return out;
  }

  /** Drops all items (total is kept, so "new since" checks stay monotonic). */
  clear(): void {
    this.items.fill(undefined);
    this.start = 0;
    this.count = 0;
  }
}
