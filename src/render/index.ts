export * from './attention-figure.js';
