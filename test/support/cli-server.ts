/**
 * A `cowpool` command that serves (`serve`, `quickjs serve`), run as a user runs it
 * (`node bin/cowpool.js …` from the repository root), handed over once its start-up line says where
 * it listens: what the CLI tests of both servers start the same way.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';

/** A running server command. */
export interface CliServer {
  /** Where it listens, as its start-up line gives it. */
  readonly url: string;
  /** Everything it has printed so far, stdout and stderr. */
  out(): string;
  /** Sends SIGTERM and resolves with its exit code. */
  stop(): Promise<number | null>;
}

/** Starts `cowpool <args>` (give `--port 0`) and waits for its start-up line; fails the test if it exits first. */
export async function startCli(args: readonly string[]): Promise<CliServer> {
  const child = spawn(process.execPath, ['bin/cowpool.js', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => (out += chunk));
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (out += chunk));
  let url: string | undefined;
  while ((url = / at (http:\/\/\S+)/.exec(out)?.[1]) === undefined) {
    if (child.exitCode !== null) assert.fail(`cowpool ${args.join(' ')} exited with ${child.exitCode} before it listened: ${out}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  return {
    url,
    out: () => out,
    async stop() {
      if (child.exitCode !== null) return child.exitCode;
      child.kill('SIGTERM');
      const [code] = (await once(child, 'exit')) as [number | null];
      return code;
    },
  };
}
