import { appendFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { FailedWatch } from '../../src/sources/folder/failed-watch.js';
import { useTempDir, waitFor } from './helpers.js';

describe('FailedWatch (real files)', () => {
  const tmp = useTempDir('failed-watch');

  it('hands back a failed file that changes, once, and stops polling when nothing is left to watch', async () => {
    const root = tmp.path;
    const file = join(root, 'x.png');
    await writeFile(file, 'half');
    const changed: string[] = [];
    const watch = new FailedWatch(20, 60_000, async (id) => void changed.push(id));
    await watch.add('x', file);
    await appendFile(file, ' and the rest');
    await waitFor(() => changed.length === 1, 'the change handed back');
    await new Promise((r) => setTimeout(r, 100));
    expect(changed).toEqual(['x']);
    expect(watch.size).toBe(0);
  });

  it('survives a hand-back that fails: no unhandled rejection, the file is let go', async () => {
    const root = tmp.path;
    const file = join(root, 'y.png');
    await writeFile(file, 'half');
    const unhandled: unknown[] = [];
    const onUnhandled = (e: unknown): void => void unhandled.push(e);
    process.on('unhandledRejection', onUnhandled);
    try {
      let calls = 0;
      const watch = new FailedWatch(20, 60_000, async () => {
        calls++;
        throw new Error('moved away meanwhile');
      });
      await watch.add('y', file);
      await appendFile(file, ' more');
      await waitFor(() => calls === 1 && watch.size === 0, 'the failed hand-back');
      await new Promise((r) => setTimeout(r, 100));
      expect(unhandled).toEqual([]);
      watch.stop();
    } finally {
      process.off('unhandledRejection', onUnhandled);
    }
  });
});
