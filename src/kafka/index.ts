/** The Kafka layer: our client interface, its kafkajs implementation, options, and message formats. */
export * from './types.js';
export { createKafkajsClient } from './kafkajs-client.js';
export { parseBrokerList, resolveKafkaOptions, validateKafkaOptions, type KafkaClientOptions, type KafkaLogLevel, type RetryOptions, type SaslOptions, type SslFileOptions } from './options.js';
export { KafkaConfigError, PoisonRecordError } from './errors.js';
export { captionRecord, deadLetterRecord, parseInputRecord, recordSource, type CaptionOutput, type CaptionRecordValue, type ParsedInput, type ParseInputOptions } from './formats.js';
export { resolveUnderRoot } from './allow-root.js';
export { OffsetTracker } from './offset-tracker.js';
export { kafkaTrainingExamples, loadKafkaDataset, parseTrainingRecord, tokenize, type KafkaTrainingOptions } from './training-examples.js';
