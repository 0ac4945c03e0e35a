/** What every command gets: output streams and the exit code to set. Commands never call process.exit. */
export interface CliContext {
  out(line: string): void;
  err(line: string): void;
  exitCode: number;
  readonly env: NodeJS.ProcessEnv;
  readonly cwd: string;
  readonly isTTY: boolean;
}
