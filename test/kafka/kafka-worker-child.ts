// A `captioner kafka` worker process for the crash and scale-out tests: the real command, in its own
// process, so the tests can kill -9 it.
import { kafkaCommand } from '../../src/cli/commands/kafka.js';

await kafkaCommand().parseAsync(process.argv, { from: 'node' });
