import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import type { FeedMessage } from '../../src/protocol/messages.js';
import { runCli } from './run-cli.js';
import { SUITE_BACKEND } from '../fixtures/suite-backend.js';

const root = fileURLToPath(new URL('../../', import.meta.url));

describe('captioner train --feed-port', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'cli-feed-'));
    expect((await runCli(['synth', '--out', join(dir, 'data'), '--count', '30', '--seed', '2'])).code).toBe(0);
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('serves the run to a WebSocket client: hello, steps, validation with probes, end', async () => {
    const child = spawn(
      process.execPath,
      ['--import', 'tsx', 'src/cli/main.ts', 'train', '--data', join(dir, 'data'), '--out', join(dir, 'model'), '--feed-port', '0',
        '--epochs', '2', '--steps-per-epoch', '3', '--batch-size', '4', '--val-limit', '3', '--channels', '8,8,8,8', '--attention-dim', '8', '--embed-dim', '8', '--decoder-dim', '16'],
      { cwd: root, env: { ...process.env, CI: 'true' }, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    const messages: FeedMessage[] = [];
    let stdout = '';
    const exited = new Promise<number | null>((resolve) => child.on('close', resolve));
    const url = await new Promise<string>((resolve, reject) => {
      child.stdout.on('data', (d: Buffer) => {
        stdout += d.toString();
        const m = /dashboard: (http:\/\/[^\s]+)\//.exec(stdout);
        if (m) resolve(m[1]!.replace('http:', 'ws:'));
      });
      child.on('close', () => reject(new Error(`train exited before serving: ${stdout}`)));
    });
    const ws = new WebSocket(url);
    ws.on('message', (data) => messages.push(JSON.parse(String(data)) as FeedMessage));
    const closed = new Promise<void>((resolve) => ws.on('close', () => resolve()));
    expect(await exited).toBe(0);
    await closed;
    expect(messages[0]).toMatchObject({ type: 'hello', mode: 'train', backend: SUITE_BACKEND });
    const types = messages.map((m) => m.type);
    expect(types.filter((t) => t === 'train.validation')).toHaveLength(2);
    expect(types.at(-1)).toBe('train.end');
    expect(types).toContain('train.step');
    const val = messages.find((m) => m.type === 'train.validation');
    if (val?.type !== 'train.validation') throw new Error('no validation message');
    expect(val.probes.length).toBeGreaterThan(0);
    expect(val.probes[0]!.thumbnail).toMatch(/^data:image\/jpeg;base64,/);
  }, 90_000);
});
