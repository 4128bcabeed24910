/**
 * The `cowpool` command line: reads the command and hands the rest to its file (`serve.ts` runs a
 * WASI program once per HTTP request, each on a pristine instance; `inspect.ts` says how a module
 * would be pooled and why; `quickjs.ts` serves JavaScript per request; `warm.ts` fills the cache of
 * prepared pools), and turns a cowpool error into a message and an exit code. The commands use the
 * library's layers; no layer imports these.
 */
import { createRequire } from 'node:module';
import { CowpoolError, InvalidArgumentError } from '../errors.js';
import { inspectCommand } from './inspect.js';
import { SERVE_USAGE, serveCommand } from './serve.js';
import { WARM_USAGE, warmCommand } from './warm.js';

const USAGE = `cowpool — a fresh WebAssembly instance per request, in microseconds

Usage:
  cowpool serve <app.wasm> [options]   serve a WASI command module over HTTP, CGI-style
  cowpool inspect <module.wasm>        show how a module is pooled (mechanism, reset strategy) and why
  cowpool quickjs serve [setup.js]     JavaScript per HTTP request, a pristine QuickJS context each
  cowpool warm <app.wasm> | quickjs [setup.js] | sqlite [setup.sql]
                                       prepare ahead of time, into the cache, so that servers start in ms
  cowpool --version | --help

${SERVE_USAGE}

${WARM_USAGE}

Sizes take units (1MiB, 512KiB, 64k); times too (10s, 250ms).
`;

/** Runs the CLI with `argv` (without node and script); resolves to the exit code. */
export async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  try {
    switch (command) {
      case 'serve':
        return await serveCommand(rest);
      case 'inspect':
        return await inspectCommand(rest);
      case 'warm':
        return await warmCommand(rest);
      case 'quickjs':
        // Loaded on demand: only this command needs QuickJS (an optional peer dependency).
        return await (await import('./quickjs.js')).quickjsCommand(rest);
      case '--version':
      case '-v':
        console.log(version());
        return 0;
      case undefined:
      case 'help':
      case '--help':
      case '-h':
        console.log(USAGE);
        return 0;
      default:
        console.error(`cowpool: unknown command "${command}"\n\n${USAGE}`);
        return 2;
    }
  } catch (err) {
    if (err instanceof CowpoolError) {
      console.error(`cowpool: ${err.message}`);
      return err instanceof InvalidArgumentError ? 2 : 1;
    }
    throw err;
  }
}

/** cowpool's version, from its package.json. */
function version(): string {
  return (createRequire(import.meta.url)('../../package.json') as { version: string }).version;
}
