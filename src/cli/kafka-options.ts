import type { Command } from 'commander';
import { ErrorCode, LockstepError } from '../core/errors.js';
import { parseDuration } from '../core/sequence/duration.js';
import type { KafkaModeOptions, ResolvedKafkaOptions } from '../modes/kafka/index.js';
import { DEFAULT_PREFIX, KAFKA_ENV, resolveKafka } from '../modes/kafka/index.js';
import type { CliContext } from './context.js';

/** The options every Kafka command shares. */
export interface KafkaCliOptions {
  brokers?: string;
  prefix?: string;
}

/** Adds `--brokers` and `--prefix` to a command. */
export function withKafkaOptions(command: Command): Command {
  return command
    .option('--brokers <list>', `Kafka bootstrap brokers, comma-separated (default: ${KAFKA_ENV.brokers})`)
    .option('--prefix <prefix>', prefixHelp);
}

/** Help text of `--prefix`. */
export const prefixHelp = `topic prefix (default: ${KAFKA_ENV.prefix} or ${DEFAULT_PREFIX})`;

/** Connection options from the command line and the environment (see {@link resolveKafka}); client logs go to stderr. */
export function kafkaOptions(cli: CliContext, opts: KafkaCliOptions): ResolvedKafkaOptions<KafkaModeOptions> {
  const log = (e: { level: string; message: string; extra: Record<string, unknown> }) =>
    cli.err(JSON.stringify({ level: e.level, message: e.message, ...e.extra }));
  const given: KafkaModeOptions = {
    ...(opts.brokers === undefined ? {} : { brokers: opts.brokers }),
    ...(opts.prefix === undefined ? {} : { prefix: opts.prefix }),
    log,
  };
  return resolveKafka(given, cli.env);
}

/** Parses a positive integer option. */
export function positiveInt(name: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1)
    throw new LockstepError(ErrorCode.invalidUsage, `Expected \`${name}\` to be an integer from 1 and up, got \`${value}\``);
  return n;
}

/** Parses a positive duration option (`7d`, `12h`, `30m`) into ms. */
export function positiveDuration(name: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const ms = parseDuration(value);
  if (ms === undefined || ms <= 0)
    throw new LockstepError(ErrorCode.invalidUsage, `Expected \`${name}\` to be a duration such as 7d, 12h or 30m, got \`${value}\``);
  return ms;
}

/** Resolves on the first SIGINT or SIGTERM, with its name. */
export function untilSignal(): Promise<NodeJS.Signals> {
  return new Promise((resolve) => {
    const on = (signal: NodeJS.Signals) => () => {
      process.removeAllListeners('SIGINT');
      process.removeAllListeners('SIGTERM');
      // A second signal stops at once.
      process.once('SIGINT', () => process.exit(130));
      process.once('SIGTERM', () => process.exit(143));
      resolve(signal);
    };
    process.once('SIGINT', on('SIGINT'));
    process.once('SIGTERM', on('SIGTERM'));
  });
}

/** Prints `value` as one JSON line every `ms` until the returned function is called. */
export function everyInterval(ms: number | undefined, print: () => void): () => void {
  if (!ms) return () => {};
  const timer = setInterval(print, ms);
  timer.unref();
  return () => clearInterval(timer);
}
