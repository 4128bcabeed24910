/**
 * The `cowpool` command line: reads the command and hands the rest to its file (`serve.ts` runs a
 * WASI program once per HTTP request, each on a pristine instance; `inspect.ts` says how a module
 * would be pooled and why; `quickjs.ts` serves JavaScript per request; `warm.ts` fills the cache of
 * prepared pools), and turns what a command throws into one line that names the command
 * (`cowpool serve: cannot read app.wasm: no such file`) and an exit code. Each command answers its
 * own `--help`. The commands use the library's layers; no layer imports these.
 */
import { cowpoolVersion } from '../version.js';
import { reportFailure } from './error-message.js';
import { inspectCommand } from './inspect.js';
import { SERVE_USAGE, serveCommand } from './serve.js';
import { warmCommand } from './warm.js';

const USAGE = `cowpool — a fresh WebAssembly instance per request, in microseconds

Usage:
  cowpool serve <app.wasm> [options]   serve a WASI command module over HTTP, CGI-style
  cowpool inspect <module.wasm>        show how a module is pooled (mechanism, reset strategy) and why
  cowpool quickjs serve [setup.js]     JavaScript per HTTP request, a pristine QuickJS context each
  cowpool warm <app.wasm> | quickjs [setup.js] | sqlite [setup.sql]
                                       prepare ahead of time, into the cache, so that servers start in ms
  cowpool --version | --help

\`cowpool <command> --help\` shows a command's options.

${SERVE_USAGE}
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
        console.log(cowpoolVersion());
        return 0;
      case 'help':
        // `cowpool help serve` is `cowpool serve --help`.
        if (rest.length > 0) return await main([...rest, '--help']);
        console.log(USAGE);
        return 0;
      case undefined:
      case '--help':
      case '-h':
        console.log(USAGE);
        return 0;
      default:
        console.error(`cowpool: unknown command "${command}"\n\n${USAGE}`);
        return 2;
    }
  } catch (err) {
    const report = reportFailure(err);
    console.error(`cowpool ${commandName(argv)}: ${report.message}`);
    return report.exitCode;
  }
}

/** The command as the user typed it, for messages: `serve`, `quickjs serve`. */
function commandName(argv: string[]): string {
  return argv[0] === 'quickjs' && argv[1] === 'serve' ? 'quickjs serve' : (argv[0] ?? '');
}
