import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { Worker, type WorkerOptions } from 'node:worker_threads';

/**
 * Starts the worker module `name` that sits next to the calling module (`here` = its import.meta.url).
 * From .ts sources (dev, tests) the worker loads through tsx, which a plain Worker cannot do; from
 * dist/*.js it loads directly.
 */
export function startWorker(here: string, name: string, options: WorkerOptions): Worker {
  const isTs = fileURLToPath(here).endsWith('.ts');
  const file = new URL(`./${name}${isTs ? '.ts' : '.js'}`, here);
  return isTs ? new Worker(tsBootstrap(file), { ...options, eval: true }) : new Worker(file, options);
}

/** Source of an eval'd worker that registers tsx's ESM loader, then imports the entry module. */
function tsBootstrap(entry: URL): string {
  const pkgJson = createRequire(import.meta.url).resolve('tsx/package.json');
  const pkg = JSON.parse(readFileSync(pkgJson, 'utf8')) as { exports: Record<string, { import: { default: string } }> };
  const api = pathToFileURL(join(dirname(pkgJson), pkg.exports['./esm/api']!.import.default)).href;
  return `import(${JSON.stringify(api)}).then((m) => { (m.register ?? m.default.register)(); return import(${JSON.stringify(entry.href)}); });`;
}
