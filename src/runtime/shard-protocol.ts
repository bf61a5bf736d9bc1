/**
 * Messages between ShardWorkers (the thread that owns a job) and its worker threads: each worker
 * takes one shard of the job at a time and posts its result back. Plain data only; no tensor
 * crosses a thread.
 */
export type ToShardWorker<Job> = { type: 'shard'; id: number; job: Job };

export type FromShardWorker<Result, Progress> =
  | { type: 'ready' }
  | { type: 'init-failed'; message: string }
  | { type: 'progress'; id: number; progress: Progress }
  | { type: 'result'; id: number; result: Result; numTensors: number }
  | { type: 'failed'; id: number; message: string };
