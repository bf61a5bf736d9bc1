/**
 * Captions image files with the default model through the library API, and once more from an
 * in-memory buffer. Run: npx tsx examples/caption-images.ts photo.jpg [more.png ...]
 * (in a project that installed the package, import from 'show-attend-tell-stream' instead).
 */
import { readFile } from 'node:fs/promises';
import { captionImages, DEFAULT_MODEL_DIR, initBackend, loadCaptioner } from '../src/index.js';

const files = process.argv.slice(2);
if (files.length === 0) throw new RangeError('usage: npx tsx examples/caption-images.ts IMAGE...');

await initBackend(); // the fastest backend available; once, before any tensor
const captioner = await loadCaptioner(DEFAULT_MODEL_DIR);
try {
  // Paths and Buffers both work: here the first file again, as bytes.
  const inputs = [...files, await readFile(files[0]!)];
  const results = await captionImages(captioner, inputs, { beamSize: 4, maxSteps: 50 });
  results.forEach((r, i) => console.log(`${i < files.length ? files[i] : 'buffer'}: ${r.caption} (score ${r.best.score.toFixed(2)})`));
} finally {
  captioner.dispose(); // frees the model's weights
}
