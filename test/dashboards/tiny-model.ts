/** A tiny random-weights checkpoint for the dashboard's end-to-end tests (caption quality is irrelevant there). */
import { join } from 'node:path';
import { initBackend } from '../../src/backend/index.js';
import { Vocabulary } from '../../src/data/vocabulary.js';
import { defaultModelConfig, saveCheckpoint, ShowAttendTell } from '../../src/model/index.js';

/** Saves the model under dir/model and returns that directory. */
export async function saveTinyModel(dir: string, seed = 3): Promise<string> {
  await initBackend('wasm');
  const words = ['a', 'red', 'blue', 'green', 'yellow', 'circle', 'square', 'triangle', 'on', 'the', 'grass'];
  const vocab = Vocabulary.build([words, words], 0);
  const config = defaultModelConfig({
    encoder: { kind: 'compact-cnn', channels: [8, 16] },
    gridSize: 4,
    attentionDim: 16,
    embedDim: 16,
    decoderDim: 32,
    vocabSize: vocab.size,
    dropout: 0,
  });
  const model = ShowAttendTell.create(config, { seed });
  const modelDir = join(dir, 'model');
  try {
    await saveCheckpoint(modelDir, { model, vocab, preprocess: { imageSize: 32, mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225] } });
  } finally {
    model.dispose();
  }
  return modelDir;
}
