/** Errors of the Kafka layer. Each names what is wrong and how to fix it. */

/** A Kafka option (flag or config-file field) has an invalid value. `option` names it as the user wrote it. */
export class KafkaConfigError extends Error {
  override readonly name = 'KafkaConfigError';
  readonly option: string;

  constructor(option: string, message: string) {
    super(`${option}: ${message}`);
    this.option = option;
  }
}

/** An input record that cannot become a caption job: it goes to the dead-letter topic with `reason`. */
export class PoisonRecordError extends Error {
  override readonly name = 'PoisonRecordError';
  readonly reason: string;

  constructor(reason: string, message: string) {
    super(message);
    this.reason = reason;
  }
}
