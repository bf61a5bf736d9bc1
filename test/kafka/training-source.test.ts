import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BehaviorSubject, firstValueFrom, take, toArray } from 'rxjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { kafkaBrokers, testClient, unique } from './broker-env.js';
import { testPng } from './tiny-model.js';
import { kafkaTrainingExamples, loadKafkaDataset, tokenize } from '../../src/kafka/training-examples.js';
import { pullOnDemand } from '../../operators/pull-on-demand.js';
import type { CaptionedImage } from '../../src/data/types.js';

const brokers = kafkaBrokers();

describe('training record tokenizer', () => {
  it('lower-cases and splits raw caption text like the Karpathy preprocessing', () => {
    expect(tokenize('A red Circle, left of a square.')).toEqual(['a', 'red', 'circle', 'left', 'of', 'a', 'square']);
  });
});

describe.skipIf(!brokers)('training examples from a Kafka topic', () => {
  const client = testClient(brokers ?? []);
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'kafka-train-'));
    await mkdir(join(dir, 'root'));
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  const fill = async (topic: string, n: number): Promise<void> => {
    const admin = client.admin();
    await admin.ensureTopics([{ topic, partitions: 2 }]);
    await admin.stop();
    const records = [];
    for (let i = 0; i < n; i++) {
      const png = await testPng(i);
      if (i % 2 === 0) {
        records.push({ value: JSON.stringify({ id: `b${i}`, image: { base64: png.toString('base64') }, captions: [['a', 'red', 'circle']] }) });
      } else {
        await writeFile(join(dir, 'root', `p${i}.png`), png);
        records.push({ value: JSON.stringify({ id: `p${i}`, image: { path: `p${i}.png` }, captions: ['A Blue square.', 'a square'], split: 'val' }) });
      }
    }
    const producer = client.producer();
    await producer.send(topic, records);
    await producer.send(topic, [
      { value: '{broken' },
      { value: JSON.stringify({ id: 'esc', image: { path: '../../etc/passwd' }, captions: [['x']] }) },
      { value: JSON.stringify({ id: 'nocap', image: { path: 'p1.png' }, captions: [] }) },
    ]);
    await producer.stop();
  };

  it('reads a topic snapshot into a data set: inline and path images, token and text captions, bad records skipped', async () => {
    const topic = unique('train');
    await fill(topic, 6);
    const skipped: string[] = [];
    const ds = await loadKafkaDataset({
      client, topic, allowRoot: join(dir, 'root'), spoolDir: join(dir, 'spool'), onSkip: (_s, reason) => skipped.push(reason),
    });
    expect(ds.images.map((im) => im.id).sort()).toEqual(['b0', 'b2', 'b4', 'p1', 'p3', 'p5']);
    const b2 = ds.images.find((im) => im.id === 'b2')!;
    expect(b2.split).toBe('train');
    expect(b2.captions).toEqual([['a', 'red', 'circle']]);
    expect(await readFile(b2.path)).toEqual(await testPng(2));
    const p3 = ds.images.find((im) => im.id === 'p3')!;
    expect(p3).toMatchObject({ split: 'val', captions: [['a', 'blue', 'square'], ['a', 'square']] });
    expect(skipped.sort()).toEqual(['bad-message', 'bad-message', 'path-not-allowed']);
  });

  it('hands out examples only on demand through pullOnDemand', async () => {
    const topic = unique('train-pull');
    await fill(topic, 10);
    const credit$ = new BehaviorSubject(3);
    // take(3) unsubscribes while the consumer may still be spooling a fetched record; wait for the
    // generator's finally (consumer stopped) so nothing writes into the temp dir after the test.
    let stopped!: () => void;
    const consumerStopped = new Promise<void>((res) => (stopped = res));
    async function* examples(): AsyncGenerator<CaptionedImage> {
      try {
        yield* kafkaTrainingExamples({ client, topic, allowRoot: join(dir, 'root'), spoolDir: join(dir, 'spool'), prefetch: 2 });
      } finally {
        stopped();
      }
    }
    const first = await firstValueFrom(pullOnDemand(examples, credit$).pipe(take(3), toArray()));
    expect(first).toHaveLength(3);
    expect(first.every((im) => im.captions.length > 0)).toBe(true);
    await consumerStopped;
  });
});
