import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { resolveUnderRoot } from '../../src/kafka/allow-root.js';
import { PoisonRecordError } from '../../src/kafka/errors.js';
import { parseInputRecord } from '../../src/kafka/formats.js';
import type { ConsumedRecord } from '../../src/kafka/types.js';

describe('allow-root: path references never escape the root', () => {
  let base: string;
  let root: string;
  beforeAll(async () => {
    base = await mkdtemp(join(tmpdir(), 'allow-root-'));
    root = join(base, 'root');
    await mkdir(join(root, 'sub'), { recursive: true });
    await writeFile(join(root, 'sub', 'in.png'), 'x');
    await writeFile(join(base, 'secret.txt'), 'secret');
    await symlink(join(base, 'secret.txt'), join(root, 'escape.png'));
    await symlink(join(base), join(root, 'dir-escape'));
    await symlink(join(root, 'sub', 'in.png'), join(root, 'inside-link.png'));
  });
  afterAll(() => rm(base, { recursive: true, force: true }));

  const reason = async (p: Promise<unknown>): Promise<string> => {
    try {
      await p;
      return 'accepted';
    } catch (e) {
      expect(e).toBeInstanceOf(PoisonRecordError);
      return (e as PoisonRecordError).reason;
    }
  };

  it('accepts relative and absolute paths inside, and symlinks that stay inside', async () => {
    expect(await resolveUnderRoot(root, 'sub/in.png')).toMatch(/sub\/in\.png$/);
    expect(await resolveUnderRoot(root, join(root, 'sub', 'in.png'))).toMatch(/sub\/in\.png$/);
    expect(await resolveUnderRoot(root, 'inside-link.png')).toMatch(/sub\/in\.png$/);
  });

  it('rejects ../, absolute paths elsewhere, symlinks out, directories, missing root config', async () => {
    expect(await reason(resolveUnderRoot(root, '../secret.txt'))).toBe('path-not-allowed');
    expect(await reason(resolveUnderRoot(root, 'sub/../../secret.txt'))).toBe('path-not-allowed');
    expect(await reason(resolveUnderRoot(root, join(base, 'secret.txt')))).toBe('path-not-allowed');
    expect(await reason(resolveUnderRoot(root, '/etc/passwd'))).toBe('path-not-allowed');
    expect(await reason(resolveUnderRoot(root, 'escape.png'))).toBe('path-not-allowed');
    expect(await reason(resolveUnderRoot(root, 'dir-escape/secret.txt'))).toBe('path-not-allowed');
    expect(await reason(resolveUnderRoot(root, '.'))).toBe('path-not-allowed');
    expect(await reason(resolveUnderRoot(root, 'sub'))).toBe('not-found');
    expect(await reason(resolveUnderRoot(root, 'nope.png'))).toBe('not-found');
    expect(await reason(resolveUnderRoot(undefined, 'sub/in.png'))).toBe('path-not-allowed');
  });

  it('parses JSON reference records through the same check', async () => {
    const rec = (value: string, headers: Record<string, string> = {}): ConsumedRecord => ({
      topic: 't', partition: 0, offset: '7', key: Buffer.from('k'), value: Buffer.from(value), headers, timestamp: '0',
    });
    expect(await parseInputRecord(rec('{"id":"a","path":"sub/in.png"}'), { allowRoot: root })).toMatchObject({ id: 'a' });
    expect(await reason(parseInputRecord(rec('{"id":"a","path":"../secret.txt"}'), { allowRoot: root }))).toBe('path-not-allowed');
    expect(await reason(parseInputRecord(rec('{"path":"escape.png"}', { 'content-type': 'application/json' }), { allowRoot: root }))).toBe('path-not-allowed');
    expect(await reason(parseInputRecord(rec('{"id":1,"path":"x"}'), { allowRoot: root }))).toBe('bad-message');
    expect(await reason(parseInputRecord(rec('{not json'), { allowRoot: root }))).toBe('bad-message');
    expect(await reason(parseInputRecord(rec('hello', { 'content-type': 'text/plain' })))).toBe('unsupported');
    expect(await reason(parseInputRecord(rec(''), {}))).toBe('empty');
    expect(await reason(parseInputRecord(rec('abcdef'), { maxBytes: 3 }))).toBe('too-large');
    expect(await parseInputRecord(rec('\x89PNG', { id: 'hdr' }))).toMatchObject({ id: 'hdr' });
    expect(await parseInputRecord({ ...rec('\x89PNG'), key: null })).toMatchObject({ id: 't-0-7' });
  });
});
