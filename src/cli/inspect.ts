/**
 * `cowpool inspect <module.wasm>`: how a module would be pooled (mechanism, reset strategy) and
 * why, and what each reset strategy's self-check found on this host, as JSON.
 */
import { readFile } from 'node:fs/promises';
import { InvalidArgumentError } from '../errors.js';
import { selfCheck } from '../memory/index.js';
import { InstancePool } from '../pool/index.js';
import { readCommandLine } from './command-line.js';

/** Usage of `cowpool inspect`, for its `--help`. */
export const INSPECT_USAGE = `Usage: cowpool inspect <module.wasm>

Prints, as JSON, how cowpool would pool the module (mechanism, reset strategy, memory) and why, and
what each reset strategy's self-check found on this host. The module's imports are stood in for, so
a module with imports can be inspected without its host.`;

/** Runs `cowpool inspect …` (`args` after `inspect`); prints the description and resolves to 0. */
export async function inspectCommand(args: string[]): Promise<number> {
  const line = readCommandLine(
    { name: 'inspect', options: {}, takes: 'one module path', positionals: { min: 1, max: 1 }, example: 'cowpool inspect module.wasm' },
    args,
  );
  if (line.help) {
    console.log(INSPECT_USAGE);
    return 0;
  }
  const path = line.positionals[0]!;
  const bytes = new Uint8Array(await readFile(path));
  let module: WebAssembly.Module;
  try {
    module = new WebAssembly.Module(bytes);
  } catch (err) {
    throw new InvalidArgumentError(`${path} is not a valid WebAssembly module: ${(err as Error).message}`, { cause: err });
  }
  const imports: WebAssembly.Imports = {};
  // Stand-ins for every import, so that a module with imports can be analysed without its host.
  for (const entry of WebAssembly.Module.imports(module)) {
    if (entry.kind !== 'function') continue;
    (imports[entry.module] ??= {})[entry.name] = () => {
      throw new Error(`${entry.module}.${entry.name} is a stand-in of cowpool inspect`);
    };
  }
  const pool = await InstancePool.create(bytes, { imports, min: 0 });
  // The host's part of the choice: what each reset strategy's self-check found on this kernel.
  const check = selfCheck();
  const host = {
    kernel: check.kernel.description,
    strategies: Object.fromEntries(
      Object.entries(check.strategies).map(([name, result]) => [name, result.ok ? 'ok' : `unavailable: ${result.reason}`]),
    ),
  };
  console.log(JSON.stringify({ module: path, ...pool.describe(), host }, null, 2));
  await pool.close();
  return 0;
}
