/** Whether a compiled module can run as a WASI preview1 command under WasiHost, and if not, why. */

import { InvalidArgumentError } from '../errors.js';
import { WASI_MODULE } from './abi.js';
import { PREVIEW1_FUNCTIONS } from './preview1-imports.js';

const KNOWN = new Set(PREVIEW1_FUNCTIONS);

/**
 * Checks that `module` is a WASI preview1 command WasiHost can run alone: it exports a function
 * `_start` and a memory `memory`, and imports nothing but preview1 functions. Otherwise `reason`
 * lists every problem, e.g. `it does not export _start; it imports env.now (function), which
 * WasiHost does not provide (…)`, ready to follow "app.wasm is not a WASI command: ".
 */
export function isWasiCommand(module: WebAssembly.Module): { ok: true } | { ok: false; reason: string } {
  const problems: string[] = [];
  const exports = WebAssembly.Module.exports(module);
  const start = exports.find((e) => e.name === '_start');
  if (start === undefined) {
    const reactor = exports.some((e) => e.name === '_initialize');
    problems.push(
      reactor ? 'exports _initialize but no _start: it is a WASI reactor (a library), not a command' : 'does not export _start',
    );
  } else if (start.kind !== 'function') {
    problems.push(`exports _start as a ${start.kind}, not a function`);
  }
  const memory = exports.find((e) => e.name === 'memory');
  if (memory === undefined) problems.push('does not export its memory as "memory"');
  else if (memory.kind !== 'memory') problems.push(`exports "memory" as a ${memory.kind}, not a memory`);

  const foreign: string[] = [];
  for (const imp of WebAssembly.Module.imports(module)) {
    if (imp.module === WASI_MODULE && imp.kind === 'function' && KNOWN.has(imp.name)) continue;
    foreign.push(`${imp.module}.${imp.name} (${imp.kind})`);
  }
  if (foreign.length > 0) {
    problems.push(`imports ${foreign.join(', ')}, which WasiHost does not provide (it provides only ${WASI_MODULE} functions)`);
  }
  // The reason reads as a continuation of "<file> is not a WASI command: …".
  return problems.length === 0 ? { ok: true } : { ok: false, reason: `it ${problems.join('; it ')}` };
}

/**
 * Compiles `bytes` and checks that they are a WASI command (see {@link isWasiCommand}), so that
 * every entry point (`serve`, `WasiCommand`) refuses a bad module up front with the same words.
 * @throws InvalidArgumentError naming `programName` and every problem found.
 */
export function checkWasiCommand(bytes: Uint8Array, programName: string): void {
  let module: WebAssembly.Module;
  try {
    module = new WebAssembly.Module(bytes);
  } catch (err) {
    throw new InvalidArgumentError(`${programName} is not a valid WebAssembly module: ${(err as Error).message}`);
  }
  const command = isWasiCommand(module);
  if (!command.ok) throw new InvalidArgumentError(`${programName} is not a WASI command module: ${command.reason}`);
}
