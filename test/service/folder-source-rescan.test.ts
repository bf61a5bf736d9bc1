import { EventEmitter } from 'node:events';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it, vi } from 'vitest';
import { dropImages, unhashed, useTempDir, waitFor } from './helpers.js';

// A watcher that reports nothing after 'ready': every file must then come from the periodic rescan.
vi.mock('chokidar', () => ({
  watch: () => {
    const w = new EventEmitter() as EventEmitter & { close(): Promise<void> };
    w.close = async () => undefined;
    setTimeout(() => w.emit('ready'), 10);
    return w;
  },
}));

const { createFolderSource } = await import('../../src/sources/folder-source.js');

describe('folder source rescan (a watcher that misses events)', () => {
  const tmp = useTempDir('rescan');

  it('still takes files the watcher never reported, in subfolders too, once each', async () => {
    const root = tmp.path;
    const inbox = join(root, 'inbox');
    await mkdir(join(inbox, 'sub'), { recursive: true });
    const source = createFolderSource({ dir: inbox, stabilityMs: 50, rescanMs: 100, recursive: true });
    const ids: string[] = [];
    const sub = source.jobs$.subscribe((j) => {
      ids.push(j.id);
      void j.ack();
    });
    await source.ready;
    await dropImages(inbox, 2);
    await dropImages(join(inbox, 'sub'), 1, 5);
    await waitFor(() => ids.length === 3, 'three files found by the rescan', 10_000);
    await new Promise((r) => setTimeout(r, 400));
    expect(ids.map(unhashed).sort()).toEqual(['img-000.png', 'img-001.png', 'sub__img-005.png']);
    sub.unsubscribe();
    await source.close();
  });

  it('does not rescan when rescanMs is 0', async () => {
    const root = tmp.path;
    const inbox = join(root, 'inbox');
    await mkdir(inbox);
    const source = createFolderSource({ dir: inbox, stabilityMs: 50, rescanMs: 0 });
    const ids: string[] = [];
    const sub = source.jobs$.subscribe((j) => ids.push(j.id));
    await source.ready;
    await dropImages(inbox, 1);
    await new Promise((r) => setTimeout(r, 500));
    expect(ids).toEqual([]);
    sub.unsubscribe();
    await source.close();
  });
});
