import sharp from 'sharp';
import { initBackend } from '../../src/backend/index.js';
import { Vocabulary } from '../../src/data/vocabulary.js';
import { defaultModelConfig, saveCheckpoint, ShowAttendTell } from '../../src/model/index.js';

/** Saves a tiny random Show-Attend-Tell checkpoint (16x16 input, 2x2 grid) to `dir`; fast on any backend. */
export async function saveTinyModel(dir: string): Promise<void> {
  await initBackend('cpu');
  const words = ['a', 'red', 'green', 'blue', 'circle', 'square'];
  const vocab = Vocabulary.build(words.map((w) => Array<string>(6).fill(w)));
  const model = ShowAttendTell.create(
    defaultModelConfig({
      vocabSize: vocab.size,
      encoder: { kind: 'compact-cnn', channels: [4, 8] },
      gridSize: 2,
      attentionDim: 8,
      embedDim: 8,
      decoderDim: 16,
    }),
    { seed: 3 },
  );
  try {
    await saveCheckpoint(dir, { model, vocab, preprocess: { imageSize: 16, mean: [0.5, 0.5, 0.5], std: [0.25, 0.25, 0.25] } });
  } finally {
    model.dispose();
  }
}

/** A small PNG whose colour depends on i. */
export function testPng(i: number): Promise<Buffer> {
  return sharp({ create: { width: 24, height: 20, channels: 3, background: { r: (i * 37) % 256, g: (i * 91) % 256, b: (i * 13) % 256 } } })
    .png()
    .toBuffer();
}
