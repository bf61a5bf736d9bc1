export * from './bleu.js';
export * from './cider.js';
export * from './attention-hit.js';
export * from './caption-stats.js';
export * from './score-file.js';
