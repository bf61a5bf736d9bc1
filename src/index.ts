export * from './data/types.js';
export * from './model/types.js';
export * from './protocol/messages.js';
export * from './data/vocabulary.js';
