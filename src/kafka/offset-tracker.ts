import type { TopicPartition, TopicPartitionOffset } from './types.js';

/**
 * Which offsets may be committed, per partition, when records finish out of order.
 *
 * At-least-once needs: commit position P for a partition only when every record below P has
 * finished (its result or dead letter acknowledged by the broker). Records finish out of order
 * (batches, several replicas), so we keep, per partition, the offsets handed out in order and
 * advance the commit point over the finished prefix: the committed position is the highest
 * CONTIGUOUS finished offset + 1.
 *
 * A rebalance invalidates everything in flight (the client fetches again from the last commit, maybe
 * in another process), so `reset()` starts a new epoch: finishes of records from an older epoch are
 * ignored, and their partitions simply get redelivered.
 */
export class OffsetTracker {
  private epoch = 0;
  /** Per "topic/partition": offsets in hand-out order with their finished flags. */
  private readonly parts = new Map<string, { tp: TopicPartition; queue: Array<{ offset: bigint; done: boolean }> }>();
  /** Positions advanced but not yet returned by takeCommittable(). */
  private readonly ready = new Map<string, TopicPartitionOffset>();

  /** Registers a record handed to the pipeline; returns the token to pass to finish(). */
  track(topic: string, partition: number, offset: string): { epoch: number; key: string; offset: bigint } {
    const key = `${topic}/${partition}`;
    let p = this.parts.get(key);
    if (!p) this.parts.set(key, (p = { tp: { topic, partition }, queue: [] }));
    const o = BigInt(offset);
    p.queue.push({ offset: o, done: false });
    return { epoch: this.epoch, key, offset: o };
  }

  /** Marks a record finished; returns true when its partition's commit point advanced. */
  finish(token: { epoch: number; key: string; offset: bigint }): boolean {
    if (token.epoch !== this.epoch) return false;
    const p = this.parts.get(token.key);
    if (!p) return false;
    const entry = p.queue.find((e) => e.offset === token.offset && !e.done);
    if (!entry) return false;
    entry.done = true;
    let last: bigint | undefined;
    while (p.queue.length > 0 && p.queue[0]!.done) last = p.queue.shift()!.offset;
    if (last === undefined) return false;
    this.ready.set(token.key, { ...p.tp, offset: (last + 1n).toString() });
    return true;
  }

  /** Positions to commit now (each partition once, the latest); clears them. */
  takeCommittable(): TopicPartitionOffset[] {
    const out = [...this.ready.values()];
    this.ready.clear();
    return out;
  }

  /** Puts positions back after a failed commit, unless a newer one is already waiting. */
  restore(offsets: TopicPartitionOffset[]): void {
    for (const o of offsets) {
      const key = `${o.topic}/${o.partition}`;
      if (!this.ready.has(key)) this.ready.set(key, o);
    }
  }

  /** Records handed out and not finished, over all partitions of the current epoch. */
  pending(): number {
    let n = 0;
    for (const p of this.parts.values()) n += p.queue.filter((e) => !e.done).length;
    return n;
  }

  /** Forgets all in-flight offsets (after a rebalance): they will be delivered again. */
  reset(): void {
    this.epoch++;
    this.parts.clear();
    this.ready.clear();
  }
}
