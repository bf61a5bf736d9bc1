import { readFile } from 'node:fs/promises';
import { KafkaConfigError } from './errors.js';

/**
 * Client settings shared by consumers, producers and admins. Defaults in brackets.
 *
 * Loadable from a JSON file (`--config FILE`, same field names) and overridable by CLI flags:
 * ```json
 * { "brokers": ["10.0.0.5:9092"], "clientId": "captioner",
 *   "ssl": { "ca": "/etc/kafka/ca.pem", "rejectUnauthorized": true },
 *   "sasl": { "mechanism": "scram-sha-512", "username": "svc", "password": "..." },
 *   "retry": { "retries": 8, "initialRetryTime": 300, "maxRetryTime": 30000 } }
 * ```
 */
export interface KafkaClientOptions {
  /** Bootstrap servers, `host:port` each. Required. */
  brokers: string[];
  /** ['captioner'] Shown in broker logs and quotas. */
  clientId?: string;
  /** [false] TLS: true for system CAs, or file paths (PEM) and verification switch. */
  ssl?: boolean | SslFileOptions;
  /** SASL authentication, passed through to the client. */
  sasl?: SaslOptions;
  /** [3000] ms to establish a connection. */
  connectionTimeout?: number;
  /** [30000] ms to wait for a request's answer. */
  requestTimeout?: number;
  /** Exponential back-off with jitter for retriable errors. */
  retry?: RetryOptions;
  /** ['error'] Client library log level. */
  logLevel?: KafkaLogLevel;
}

export interface SslFileOptions {
  /** PEM file of the CA(s) to trust. */
  ca?: string;
  /** PEM client certificate (mutual TLS). */
  cert?: string;
  /** PEM client key (mutual TLS). */
  key?: string;
  /** [true] */
  rejectUnauthorized?: boolean;
  servername?: string;
}

export interface SaslOptions {
  mechanism: 'plain' | 'scram-sha-256' | 'scram-sha-512';
  username: string;
  password: string;
}

export interface RetryOptions {
  /** [5] */
  retries?: number;
  /** [300] ms */
  initialRetryTime?: number;
  /** [30000] ms */
  maxRetryTime?: number;
}

export type KafkaLogLevel = 'nothing' | 'error' | 'warn' | 'info' | 'debug';

const LOG_LEVELS: KafkaLogLevel[] = ['nothing', 'error', 'warn', 'info', 'debug'];
const SASL_MECHANISMS = ['plain', 'scram-sha-256', 'scram-sha-512'] as const;
const TOP_LEVEL = ['brokers', 'clientId', 'ssl', 'sasl', 'connectionTimeout', 'requestTimeout', 'retry', 'logLevel'];

/** Parses `host:port[,host:port...]` (a CLI flag) into a broker list; throws KafkaConfigError naming `option`. */
export function parseBrokerList(value: string, option = '--brokers'): string[] {
  const brokers = value
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s.length > 0);
  return validateBrokers(brokers, option);
}

function validateBrokers(brokers: unknown, option: string): string[] {
  if (!Array.isArray(brokers) || brokers.length === 0) {
    throw new KafkaConfigError(option, 'at least one broker is required, as host:port (e.g. 127.0.0.1:9092)');
  }
  for (const b of brokers) {
    if (typeof b !== 'string' || !/^[^\s:,]+:\d{1,5}$/.test(b) || Number(b.split(':').pop()) > 65535) {
      throw new KafkaConfigError(option, `"${String(b)}" is not host:port (e.g. 127.0.0.1:9092)`);
    }
  }
  return brokers as string[];
}

function positiveInt(v: unknown, option: string, allowZero = false): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < (allowZero ? 0 : 1)) {
    throw new KafkaConfigError(option, `must be a ${allowZero ? 'non-negative' : 'positive'} integer, got ${JSON.stringify(v)}`);
  }
  return v;
}

function str(v: unknown, option: string): string {
  if (typeof v !== 'string' || v.length === 0) throw new KafkaConfigError(option, `must be a non-empty string, got ${JSON.stringify(v)}`);
  return v;
}

/**
 * Checks a raw options object (from a config file, flags, or code) and returns it typed.
 * @param where Prefix of option names in messages, e.g. 'kafka.json: ' so the user knows which file.
 */
export function validateKafkaOptions(raw: unknown, where = ''): KafkaClientOptions {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    throw new KafkaConfigError(`${where}config`, 'must be a JSON object with at least "brokers"');
  }
  const o = raw as Record<string, unknown>;
  for (const k of Object.keys(o)) {
    if (!TOP_LEVEL.includes(k)) throw new KafkaConfigError(`${where}${k}`, `unknown option; known: ${TOP_LEVEL.join(', ')}`);
  }
  const out: KafkaClientOptions = { brokers: validateBrokers(o.brokers, `${where}brokers`) };
  if (o.clientId !== undefined) out.clientId = str(o.clientId, `${where}clientId`);
  if (o.connectionTimeout !== undefined) out.connectionTimeout = positiveInt(o.connectionTimeout, `${where}connectionTimeout`);
  if (o.requestTimeout !== undefined) out.requestTimeout = positiveInt(o.requestTimeout, `${where}requestTimeout`);
  if (o.logLevel !== undefined) {
    if (!LOG_LEVELS.includes(o.logLevel as KafkaLogLevel)) {
      throw new KafkaConfigError(`${where}logLevel`, `must be one of ${LOG_LEVELS.join(', ')}`);
    }
    out.logLevel = o.logLevel as KafkaLogLevel;
  }
  if (o.ssl !== undefined) {
    if (typeof o.ssl === 'boolean') out.ssl = o.ssl;
    else if (typeof o.ssl === 'object' && o.ssl !== null) {
      const s = o.ssl as Record<string, unknown>;
      const ssl: SslFileOptions = {};
      for (const k of ['ca', 'cert', 'key', 'servername'] as const) if (s[k] !== undefined) ssl[k] = str(s[k], `${where}ssl.${k}`);
      if (s.rejectUnauthorized !== undefined) {
        if (typeof s.rejectUnauthorized !== 'boolean') throw new KafkaConfigError(`${where}ssl.rejectUnauthorized`, 'must be true or false');
        ssl.rejectUnauthorized = s.rejectUnauthorized;
      }
      if ((ssl.cert === undefined) !== (ssl.key === undefined)) {
        throw new KafkaConfigError(`${where}ssl.${ssl.cert === undefined ? 'cert' : 'key'}`, 'mutual TLS needs both cert and key files');
      }
      out.ssl = ssl;
    } else throw new KafkaConfigError(`${where}ssl`, 'must be true/false or an object { ca, cert, key, rejectUnauthorized }');
  }
  if (o.sasl !== undefined) {
    const s = o.sasl as Record<string, unknown> | null;
    if (typeof s !== 'object' || s === null) throw new KafkaConfigError(`${where}sasl`, 'must be an object { mechanism, username, password }');
    if (!SASL_MECHANISMS.includes(s.mechanism as SaslOptions['mechanism'])) {
      throw new KafkaConfigError(`${where}sasl.mechanism`, `must be one of ${SASL_MECHANISMS.join(', ')}`);
    }
    out.sasl = {
      mechanism: s.mechanism as SaslOptions['mechanism'],
      username: str(s.username, `${where}sasl.username`),
      password: str(s.password, `${where}sasl.password`),
    };
  }
  if (o.retry !== undefined) {
    const r = o.retry as Record<string, unknown> | null;
    if (typeof r !== 'object' || r === null) throw new KafkaConfigError(`${where}retry`, 'must be an object { retries, initialRetryTime, maxRetryTime }');
    out.retry = {};
    if (r.retries !== undefined) out.retry.retries = positiveInt(r.retries, `${where}retry.retries`, true);
    if (r.initialRetryTime !== undefined) out.retry.initialRetryTime = positiveInt(r.initialRetryTime, `${where}retry.initialRetryTime`);
    if (r.maxRetryTime !== undefined) out.retry.maxRetryTime = positiveInt(r.maxRetryTime, `${where}retry.maxRetryTime`);
    if ((out.retry.initialRetryTime ?? 300) > (out.retry.maxRetryTime ?? 30000)) {
      throw new KafkaConfigError(`${where}retry.initialRetryTime`, 'must not exceed retry.maxRetryTime');
    }
  }
  return out;
}

/**
 * Reads a JSON config file and merges `overrides` (CLI flags) over it; flags win field by field
 * (retry merges per field). Without a file, `overrides` alone must name the brokers.
 */
export async function resolveKafkaOptions(
  configFile: string | undefined,
  overrides: Partial<KafkaClientOptions>,
): Promise<KafkaClientOptions> {
  let fromFile: Record<string, unknown> = {};
  if (configFile !== undefined) {
    let text: string;
    try {
      text = await readFile(configFile, 'utf8');
    } catch (e) {
      throw new KafkaConfigError('--config', `cannot read ${configFile}: ${(e as Error).message}`);
    }
    try {
      fromFile = JSON.parse(text) as Record<string, unknown>;
    } catch (e) {
      throw new KafkaConfigError('--config', `${configFile} is not valid JSON: ${(e as Error).message}`);
    }
    validateKafkaOptions({ brokers: ['placeholder:1'], ...fromFile }, `${configFile}: `);
  }
  const defined = Object.fromEntries(Object.entries(overrides).filter(([, v]) => v !== undefined));
  const merged: Record<string, unknown> = { ...fromFile, ...defined };
  if (fromFile.retry !== undefined || overrides.retry !== undefined) {
    merged.retry = { ...(fromFile.retry as object | undefined), ...overrides.retry };
  }
  if (merged.brokers === undefined) {
    throw new KafkaConfigError('--brokers', 'no brokers: pass --brokers HOST:PORT[,HOST:PORT] or set "brokers" in --config');
  }
  return validateKafkaOptions(merged);
}
