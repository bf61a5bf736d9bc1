import { describe, expect, it } from 'vitest';
import { kafkaBrokers, unique, waitFor } from './broker-env.js';
import { useKafkaWorkers } from './worker-fixture.js';

const brokers = kafkaBrokers();

describe.skipIf(!brokers)('caption-kafka scale-out: two worker processes in one group', () => {
  const { admin, startWorker, produceImages, outputIds } = useKafkaWorkers(brokers ?? []);

  it('shares partitions between two workers of one group and finishes everything when one is killed', async () => {
    const [inT, outT, groupId] = [unique('sin'), unique('sout'), unique('sg')];
    await admin.ensureTopics([{ topic: inT, partitions: 4 }, { topic: outT }, { topic: `${inT}.dead-letter` }]);
    const args = ['--in', inT, '--out', outT, '--group', groupId, '--high-water', '4'];
    const a = await startWorker(args);
    await startWorker(args);
    await waitFor(async () => {
      const g = await admin.describeGroup(groupId);
      return g.state === 'Stable' && g.members.length === 2 && g.members.every((m) => m.assignment.length === 2);
    }, 'two members with two partitions each');
    const ids = Array.from({ length: 60 }, (_, i) => `s-${i}`);
    await produceImages(inT, ids);
    await waitFor(async () => (await admin.endOffsets(outT)).reduce((s, o) => s + Number(o.offset), 0) >= 3, 'first results');
    a.kill('SIGKILL');
    expect(await admin.lag(groupId, inT)).toBeGreaterThan(0); // killed mid-stream
    // After the session timeout the broker evicts the dead member and the survivor takes all four.
    await waitFor(async () => {
      const g = await admin.describeGroup(groupId);
      return g.state === 'Stable' && g.members.length === 1 && g.members[0]!.assignment.length === 4;
    }, 'the survivor owning all partitions', 30000);
    await waitFor(async () => (await admin.lag(groupId, inT)) === 0, 'lag 0 with the survivor', 60000);
    const got = await outputIds(outT, ids.length);
    expect([...got].sort()).toEqual([...ids].sort());
  }, 120_000); // two worker start-ups, an eviction and a take-over: generous for a loaded CI machine
});
