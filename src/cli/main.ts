#!/usr/bin/env node
/**
 * The `captioner` command line: synth, train, eval, caption, score, demo (and watch / kafka from
 * the caption service). Each command lives in its own file under commands/.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Command } from 'commander';
import { finetuneCommand } from './commands/finetune.js';
import { captionCommand } from './commands/caption.js';
import { demoCommand } from './commands/demo.js';
import { evalCommand } from './commands/eval.js';
import { packageRoot } from '../io/package-root.js';
import { scoreCommand } from './commands/score.js';
import { synthCommand } from './commands/synth.js';
import { trainCommand } from './commands/train.js';

const pkg = JSON.parse(readFileSync(join(packageRoot(), 'package.json'), 'utf8')) as { version: string };

export async function main(argv: string[]): Promise<void> {
  const program = new Command('captioner')
    .description('Show, Attend and Tell image captioning on TensorFlow.js, composed as RxJS dataflows')
    .version(pkg.version)
    .showHelpAfterError('(run with --help for usage)');
  for (const c of [synthCommand(), trainCommand(), finetuneCommand(), evalCommand(), captionCommand(), scoreCommand(), demoCommand()]) program.addCommand(c);
  // The caption service's commands are optional parts of the build.
  for (const [file, name] of [['./commands/watch.js', 'watchCommand'], ['./commands/kafka.js', 'kafkaCommand']] as const) {
    if (existsSync(new URL(file, import.meta.url)) || existsSync(new URL(file.replace(/\.js$/, '.ts'), import.meta.url))) {
      const mod = (await import(file)) as Record<string, () => Command>;
      const make = mod[name];
      if (make) program.addCommand(make());
    }
  }
  await program.parseAsync(argv);
}

await main(process.argv);
