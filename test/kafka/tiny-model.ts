import { saveTinyModel as save, solidImage } from '../fixtures/tiny-model.js';

/** Saves a tiny random checkpoint (16x16 input, 2x2 grid) to `dir`; fast on the cpu backend the Kafka workers use. */
export async function saveTinyModel(dir: string): Promise<void> {
  await save(dir, { backend: 'cpu', seed: 3, words: ['a', 'red', 'green', 'blue', 'circle', 'square'], imageSize: 16, channels: [4, 8], gridSize: 2 });
}

/** A small PNG whose colour depends on i. */
export function testPng(i: number): Promise<Buffer> {
  return solidImage(i, { width: 24, height: 20 });
}
