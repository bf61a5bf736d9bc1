import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { importCycles, importGraph } from './import-graph.js';

const root = fileURLToPath(new URL('../..', import.meta.url));
const graph = importGraph(root, ['src', 'operators', 'pipelines', 'examples']);

describe('the import graph of src/, operators/, pipelines/ and examples/', () => {
  it('has no cycles', () => {
    expect(importCycles(graph)).toEqual([]);
  });

  it('finds a cycle when there is one (the check can fail)', () => {
    const looped = new Map([['a.ts', ['b.ts']], ['b.ts', ['c.ts']], ['c.ts', ['a.ts']], ['d.ts', ['a.ts']]]);
    expect(importCycles(looped)).toEqual([['a.ts', 'b.ts', 'c.ts']]);
    expect(graph.size).toBeGreaterThan(100);
  });

  it('keeps the CLI the top layer: nothing outside src/cli imports it', () => {
    const offenders = [...graph].flatMap(([file, edges]) => (file.startsWith('src/cli/') ? [] : edges.filter((e) => e.startsWith('src/cli/')).map((e) => `${file} -> ${e}`)));
    expect(offenders).toEqual([]);
  });

  it('keeps the dependency rule of the layers: src/ imports neither operators/ nor pipelines/, operators/ not pipelines/', () => {
    // src/cli is the top layer and src/index.ts the package facade: both may reach every layer.
    const library = (file: string) => file.startsWith('src/') && !file.startsWith('src/cli/') && file !== 'src/index.ts';
    const upward = [...graph].flatMap(([file, edges]) =>
      edges
        .filter((e) => (library(file) && (e.startsWith('operators/') || e.startsWith('pipelines/'))) || (file.startsWith('operators/') && e.startsWith('pipelines/')))
        .map((e) => `${file} -> ${e}`),
    );
    expect(upward).toEqual([]);
  });
});
