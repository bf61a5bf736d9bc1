import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../../src/backend/index.js';
import { Vocabulary } from '../../src/data/vocabulary.js';
import { ShowAttendTell, defaultModelConfig, Trainer } from '../../src/model/index.js';
console.log(await initBackend((process.env.BK as 'wasm') ?? 'wasm'));
const vocab = Vocabulary.build([['a','red','circle'],['a','blue','square']].flatMap(x=>Array(6).fill(x)));
const mode = (process.env.EMB ?? 'auto') as 'auto';
const m = ShowAttendTell.create(defaultModelConfig({vocabSize: vocab.size}), {seed: 1});
m.embeddingMode = mode;
const tr = new Trainer(m, {decoderLr: 4e-4, encoderLr: 4e-4, alphaC: 1, clipValue: 5, clipNorm: 0, scheduledSampling: Number(process.env.SS ?? 0), seed: 3});
const B=32, S=64, T=12;
const images = new Float32Array(B*S*S*3).map(()=>Math.random());
const captions = new Int32Array(B*T); const lengths = new Int32Array(B);
for (let i=0;i<B;i++){ const n = 3 + (i%8); const {ids,length} = vocab.encode(Array(n).fill('red'), T-2); captions.set(ids, i*T); lengths[i]=length; }
const before = tf.memory().numTensors;
for (let s=0;s<6;s++){ const t=Date.now(); const st = await tr.step({batchSize:B, imageSize:S, maxLen:T-2, images, captions, lengths, ids:[]}); console.log(Date.now()-t, 'ms', JSON.stringify(st), tf.memory().numTensors); }
console.log('tensors', before, tf.memory().numTensors);
