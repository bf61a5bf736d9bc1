import { describe, expect, it } from 'vitest';
import { createHttpSource } from '../../src/sources/http-source.js';
import type { Job } from '../../src/sources/job.js';

describe('HTTP upload source', () => {
  it('answers busy beyond maxInFlight, resolves callers by job, and says shutdown after close', async () => {
    const http = createHttpSource<{ caption: string }>({ maxInFlight: 2 });
    const jobs: Job[] = [];
    let completed = false;
    http.jobs$.subscribe({ next: (j) => jobs.push(j), complete: () => (completed = true) });
    const a = http.submit(Buffer.from('a'));
    const b = http.submit(Buffer.from('b'));
    expect(await http.submit(Buffer.from('c'))).toMatchObject({ ok: false, reason: 'busy' });
    expect(jobs.map((j) => j.bytes?.toString())).toEqual(['a', 'b']);
    expect(new Set(jobs.map((j) => j.id)).size).toBe(2);
    http.resolve(jobs[1]!, { ok: false, reason: 'corrupt', message: 'b: truncated' });
    http.resolve(jobs[0]!, { ok: true, record: { caption: 'a red circle' } });
    expect(await a).toEqual({ ok: true, record: { caption: 'a red circle' } });
    expect(await b).toMatchObject({ ok: false, reason: 'corrupt' });
    expect(http.inFlight).toBe(0);
    const stranger = { ...jobs[0]!, id: 'other' };
    http.resolve(stranger, { ok: true, record: { caption: 'x' } }); // not ours: ignored
    http.close();
    expect(completed).toBe(true);
    expect(await http.submit(Buffer.from('d'))).toMatchObject({ ok: false, reason: 'shutdown' });
  });
});
