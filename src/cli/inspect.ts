/**
 * `cowpool inspect <module.wasm>`: how a module would be pooled (mechanism, reset strategy) and
 * why, and what each reset strategy's self-check found on this host, as JSON.
 */
import { readFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { InvalidArgumentError } from '../errors.js';
import { selfCheck } from '../memory/index.js';
import { InstancePool } from '../pool/index.js';

/** Runs `cowpool inspect …` (`args` after `inspect`); prints the description and resolves to 0. */
export async function inspectCommand(args: string[]): Promise<number> {
  const { positionals } = parseArgs({ args, allowPositionals: true, options: {} });
  const path = positionals[0];
  if (!path) throw new InvalidArgumentError('inspect takes a module path: cowpool inspect module.wasm');
  const bytes = new Uint8Array(await readFile(path));
  const imports: WebAssembly.Imports = {};
  // Stand-ins for every import, so that a module with imports can be analysed without its host.
  for (const entry of WebAssembly.Module.imports(new WebAssembly.Module(bytes))) {
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
