import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import type { Command } from 'commander';
import { listSequenceFiles, loadSequenceFile } from '../../adapters/fs/load-sequence.js';
import { createPrometheusMetrics } from '../../adapters/prometheus/index.js';
import { DefinitionError, ErrorCode, LockstepError } from '../../core/errors.js';
import { formatProblems } from '../../core/sequence/problems.js';
import type { Sequence } from '../../core/sequence/types.js';
import { TOKEN_ENV } from '../../http/auth.js';
import type { RejectedDefinition } from '../../http/sequence-routes.js';
import { createHttpServer } from '../../http/server.js';
import { createEmbeddedRunService } from '../../modes/embedded/index.js';
import { createKafkaRunService } from '../../modes/kafka/index.js';
import type { RunService } from '../../ports/run-service.js';
import type { CliContext } from '../context.js';
import { ExitCode } from '../exit-codes.js';
import { kafkaOptions, prefixHelp } from '../kafka-options.js';
import { logCap } from '../log-bytes.js';
import type { SequencesCliOptions } from '../sequences-option.js';
import { sequencesPath, withSequencesOption } from '../sequences-option.js';
import { openStore } from '../store.js';

interface ServeOptions extends SequencesCliOptions {
  port: string;
  host: string;
  store?: string;
  brokers?: string;
  prefix?: string;
}

/** The sequences of a directory (or one file), and the files that could not be served with their problems. */
export interface ServedFiles {
  readonly sequences: Array<{ sequence: Sequence; definition: string; source: string }>;
  readonly rejected: RejectedDefinition[];
}

/** Loads every sequence file of a directory (or one file); a bad file is reported and skipped, never fatal. */
export function loadServedFiles(cli: CliContext, path: string): ServedFiles {
  if (!existsSync(path)) throw new LockstepError(ErrorCode.invalidUsage, `--sequences: ${path} does not exist`);
  const sequences: ServedFiles['sequences'] = [];
  const rejected: RejectedDefinition[] = [];
  const names = new Map<string, string>();
  for (const file of listSequenceFiles(path)) {
    try {
      const l = loadSequenceFile(file);
      const earlier = names.get(l.sequence.name);
      if (earlier) {
        cli.err(`lockstep serve: skipping ${file}: sequence "${l.sequence.name}" is already defined in ${earlier}`);
        rejected.push({
          source: file,
          problems: [{ path: 'name', message: `sequence "${l.sequence.name}" is already defined in ${earlier}` }],
        });
        continue;
      }
      names.set(l.sequence.name, file);
      sequences.push({ sequence: l.sequence, definition: l.text, source: l.path });
    } catch (error) {
      if (!(error instanceof DefinitionError)) throw error;
      cli.err(`lockstep serve: skipping ${file}: invalid\n${formatProblems(error.problems)}`);
      rejected.push({ source: file, problems: error.problems });
    }
  }
  return { sequences, rejected };
}

/** The sequences of a directory (or one file); invalid files are reported and skipped. */
export function loadServedSequences(cli: CliContext, path: string): ServedFiles['sequences'] {
  return loadServedFiles(cli, path).sequences;
}

function parsePort(value: string): number {
  const port = Number(value);
  if (!Number.isInteger(port) || port < 0 || port > 65_535) {
    throw new LockstepError(ErrorCode.invalidUsage, `--port: expected an integer from 0 to 65535, got "${value}"`);
  }
  return port;
}

const isLoopback = (host: string) => host === 'localhost' || host === '::1' || host.startsWith('127.');

/** `lockstep serve`: the HTTP API, live updates and the web page. */
export function registerServe(program: Command, cli: CliContext): void {
  withSequencesOption(
    program
      .command('serve')
      .description('serve the HTTP API and the web page: sequences, graphs, runs and live updates')
      .option('--port <port>', 'port to listen on (0 picks a free one)', '7070')
      .option('--host <host>', 'address to bind (keep 127.0.0.1 unless a proxy guards the server)', '127.0.0.1'),
    'directory (or file) of sequences to serve (default: "machines")',
  )
    .option('--store <path>', 'run store location in embedded mode (default: .lockstep/ or LOCKSTEP_STORE)')
    .option('--brokers <list>', 'Kafka bootstrap servers (host:port,...): watch runs driven by separate orchestrators')
    .option('--prefix <prefix>', `Kafka ${prefixHelp}`)
    .action(async (opts: ServeOptions) => {
      const port = parsePort(opts.port);
      if (opts.brokers && opts.store) {
        throw new LockstepError(
          ErrorCode.invalidUsage,
          '--store and --brokers exclude each other: over Kafka the runs are read from the history and run-state topics',
        );
      }
      const served = resolve(cli.cwd, sequencesPath(opts, false) ?? 'machines');
      const { sequences, rejected } = loadServedFiles(cli, served);
      // Served at GET /metrics: this process's runs (embedded), or what it follows of the orchestrators' (Kafka).
      const metrics = createPrometheusMetrics();
      // --brokers chooses Kafka mode (a broker in the environment alone does not: serve is embedded unless told).
      const runs: RunService = opts.brokers
        ? await createKafkaRunService({ ...kafkaOptions(cli, opts), sequences, onLog: cli.err, metrics })
        : await createEmbeddedRunService({ store: await openStore(cli, opts.store), sequences, cwd: cli.cwd, ...logCap(cli), metrics });
      const token = cli.env[TOKEN_ENV] || undefined;
      const loopbackHosts = ['localhost', '127.0.0.1', '[::1]', opts.host.includes(':') ? `[${opts.host}]` : opts.host];
      const app = createHttpServer({
        runs,
        rejected,
        metrics,
        prerenderGraphs: true,
        ...(token ? { token } : {}),
        ...(isLoopback(opts.host) ? { allowedHosts: [...new Set(loopbackHosts)] } : {}),
      });
      try {
        await app.listen({ port, host: opts.host });
      } catch (error) {
        await runs.close();
        throw new LockstepError(ErrorCode.invalidUsage, `cannot listen on ${opts.host}:${port}: ${(error as Error).message}`);
      }
      const address = app.server.address();
      const bound = typeof address === 'object' && address ? address.port : port;
      const host = opts.host.includes(':') ? `[${opts.host}]` : opts.host;
      cli.out(
        `lockstep serve: listening on http://${host}:${bound} (${runs.mode} mode, ${sequences.length} sequence${sequences.length === 1 ? '' : 's'} from ${served}${rejected.length > 0 ? `; ${rejected.length} invalid file${rejected.length === 1 ? '' : 's'} skipped` : ''})`,
      );
      if (!token)
        cli.err(
          `lockstep serve: ${TOKEN_ENV} is not set, so starting, cancelling and rerunning runs is refused; set it to a secret to allow them`,
        );
      if (!isLoopback(opts.host)) cli.err(`lockstep serve: bound to ${opts.host}: anyone who can reach it can read runs and their inputs`);
      // Stops on SIGINT/SIGTERM, or when the mode can no longer drive runs (a store that cannot be written).
      const failure = await new Promise<{ error: unknown } | undefined>((done) => {
        const stop = () => {
          process.removeListener('SIGINT', stop);
          process.removeListener('SIGTERM', stop);
          done(undefined);
        };
        process.once('SIGINT', stop);
        process.once('SIGTERM', stop);
        void runs.whenFailed?.().then((error) => {
          process.removeListener('SIGINT', stop);
          process.removeListener('SIGTERM', stop);
          done({ error });
        });
      });
      cli.out(failure ? 'lockstep serve: runs can no longer be recorded, shutting down' : 'lockstep serve: shutting down');
      await app.close();
      await runs.close();
      if (failure) throw failure.error;
      cli.exitCode = ExitCode.ok;
    });
}
