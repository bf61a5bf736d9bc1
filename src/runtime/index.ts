export { ReplicaPool, ReplicaCrashError, type ReplicaPoolOptions, type BatchOutput } from './replica-pool.js';
export type { ReplicaInfo, ReplicaCaption, PlainHypothesis } from './protocol.js';
