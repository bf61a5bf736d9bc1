export * from './bleu.js';
export * from './cider.js';
