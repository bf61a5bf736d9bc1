import { describe, expect, it } from 'vitest';
import { deliverPatiently, isRetriable, StopFlag } from '../../src/kafka/deliver.js';

/** An error shaped like the client's: kafkajs reports a refused connection after its retries as "non-retriable". */
const kafkaError = (name: string, message: string, extra: Record<string, unknown> = {}): Error => Object.assign(new Error(message), { name, ...extra });
const fast = { firstMs: 1, maxMs: 4 };

describe('deliverPatiently (logic, fake sends)', () => {
  it('retries infrastructure errors until the send succeeds', async () => {
    let calls = 0;
    const retries: number[] = [];
    const ok = await deliverPatiently(
      async () => {
        if (++calls < 4) throw kafkaError('KafkaJSNonRetriableError', 'Connection error: connect ECONNREFUSED 127.0.0.1:1', { retriable: false });
      },
      new StopFlag(),
      (attempt) => retries.push(attempt),
      fast,
    );
    expect(ok).toBe(true);
    expect(calls).toBe(4);
    expect(retries).toEqual([1, 2, 3]);
  });

  it('gives up (false) once stopped, but always makes the first attempt', async () => {
    const stop = new StopFlag();
    stop.stop();
    let calls = 0;
    expect(await deliverPatiently(async () => void calls++, stop, undefined, fast)).toBe(true);
    expect(calls).toBe(1);
    const failing = new StopFlag();
    const p = deliverPatiently(async () => Promise.reject(kafkaError('KafkaJSConnectionError', 'Connection error')), failing, undefined, { firstMs: 60_000, maxMs: 60_000 });
    setTimeout(() => failing.stop(), 20);
    expect(await p).toBe(false); // the 60 s backoff was cut short by the stop
  });

  it('throws errors about the record itself at once', async () => {
    const tooLarge = kafkaError('KafkaJSProtocolError', 'The request included a message larger than the max message size the server will accept', { type: 'MESSAGE_TOO_LARGE', retriable: false });
    await expect(deliverPatiently(async () => Promise.reject(tooLarge), new StopFlag(), undefined, fast)).rejects.toBe(tooLarge);
    expect(isRetriable(new Error('producer: send to out after stop()'))).toBe(false);
    expect(isRetriable(kafkaError('KafkaJSNumberOfRetriesExceeded', 'x', { cause: kafkaError('KafkaJSConnectionError', 'Connection error') }))).toBe(true);
    expect(isRetriable(kafkaError('KafkaJSError', 'wrapped', { cause: tooLarge }))).toBe(false);
  });
});
