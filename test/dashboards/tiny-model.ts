import { join } from 'node:path';
import { saveTinyModel as save } from '../fixtures/tiny-model.js';

/** Saves a tiny random-weights model under dir/model for the dashboard's end-to-end tests; returns that directory. */
export function saveTinyModel(dir: string, seed = 3): Promise<string> {
  return save(join(dir, 'model'), { seed, words: ['a', 'red', 'blue', 'green', 'yellow', 'circle', 'square', 'triangle', 'on', 'the', 'grass'] });
}
