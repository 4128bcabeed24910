/**
 * The ABI of the QuickJS build cowpool hosts: `@jitl/quickjs-wasmfile-release-sync` (quickjs-emscripten's
 * release build with a separate `.wasm`). Emscripten minifies import and export names, so this file is
 * the one place that knows which letter is which function; {@link checkAbi} compares the module's
 * actual signatures with this table and refuses a build whose ABI differs, instead of calling the wrong
 * function.
 *
 * cowpool does not run emscripten's JavaScript glue: every import the module needs is implemented by
 * `host.ts`, and every piece of state lives in the wasm memory and globals, which the pool resets.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { UnsupportedError } from '../errors.js';
import type { FuncType, ModuleInfo } from '../module/index.js';

/** The npm package the QuickJS module comes from, and the versions whose ABI {@link IMPORTS} describes. */
export const QUICKJS_PACKAGE = '@jitl/quickjs-wasmfile-release-sync';
export const QUICKJS_VERSIONS = '0.32.x';

type Sig = readonly [params: string, results: string];

/** The module's imports (all in namespace `a`), by role: letter and wasm signature. */
export const IMPORTS = {
  memory: 'a',
  assertFail: { name: 'b', sig: ['iiii', ''] },
  fdWrite: { name: 'c', sig: ['iiii', 'i'] },
  fdClose: { name: 'd', sig: ['i', 'i'] },
  environGet: { name: 'e', sig: ['ii', 'i'] },
  environSizesGet: { name: 'f', sig: ['ii', 'i'] },
  normalizeModule: { name: 'g', sig: ['iiii', 'i'] },
  loadModuleSource: { name: 'h', sig: ['iii', 'i'] },
  shouldInterrupt: { name: 'i', sig: ['i', 'i'] },
  setitimer: { name: 'j', sig: ['iF', 'i'] },
  resizeHeap: { name: 'k', sig: ['i', 'i'] },
  keepaliveClear: { name: 'l', sig: ['', ''] },
  localtime: { name: 'm', sig: ['Ii', ''] },
  tzset: { name: 'n', sig: ['iiii', ''] },
  fdSeek: { name: 'o', sig: ['iIii', 'i'] },
  dateNow: { name: 'p', sig: ['', 'F'] },
  abort: { name: 'q', sig: ['', ''] },
  procExit: { name: 'r', sig: ['i', ''] },
  callFunction: { name: 's', sig: ['iiiii', 'i'] },
  freeHostRef: { name: 't', sig: ['ii', ''] },
} as const satisfies Record<string, string | { name: string; sig: Sig }>;

/** The exports cowpool calls, by C name: letter and wasm signature. */
export const EXPORTS = {
  wasmCallCtors: { name: 'u', sig: ['', ''] },
  malloc: { name: 'v', sig: ['i', 'i'] },
  free: { name: 'M', sig: ['i', ''] },
  QTS_RuntimeSetMemoryLimit: { name: 'y', sig: ['ii', ''] },
  QTS_RuntimeSetMaxStackSize: { name: 'D', sig: ['ii', ''] },
  QTS_GetUndefined: { name: 'E', sig: ['', 'i'] },
  QTS_NewRuntime: { name: 'K', sig: ['', 'i'] },
  QTS_NewContext: { name: 'N', sig: ['ii', 'i'] },
  QTS_NewString: { name: '_', sig: ['ii', 'i'] },
  QTS_GetString: { name: '$', sig: ['ii', 'i'] },
  QTS_IsJobPending: { name: 'fa', sig: ['i', 'i'] },
  QTS_ExecutePendingJob: { name: 'ga', sig: ['iii', 'i'] },
  QTS_Call: { name: 'ma', sig: ['iiiii', 'i'] },
  QTS_ResolveException: { name: 'na', sig: ['ii', 'i'] },
  QTS_Eval: { name: 'pa', sig: ['iiiiii', 'i'] },
  QTS_PromiseState: { name: 'wa', sig: ['ii', 'i'] },
  QTS_PromiseResult: { name: 'xa', sig: ['ii', 'i'] },
  QTS_RuntimeEnableInterruptHandler: { name: 'Fa', sig: ['i', ''] },
  QTS_Typeof: { name: 'ra', sig: ['ii', 'i'] },
  QTS_GetLength: { name: 'sa', sig: ['iii', 'i'] },
  QTS_GetFloat64: { name: 'Z', sig: ['ii', 'F'] },
} as const satisfies Record<string, { name: string; sig: Sig }>;

/** The exports as typed functions. */
export interface QuickJSExports {
  wasmCallCtors(): void;
  malloc(size: number): number;
  free(ptr: number): void;
  QTS_RuntimeSetMemoryLimit(rt: number, limit: number): void;
  QTS_RuntimeSetMaxStackSize(rt: number, size: number): void;
  QTS_GetUndefined(): number;
  QTS_NewRuntime(): number;
  QTS_NewContext(rt: number, intrinsics: number): number;
  QTS_NewString(ctx: number, cString: number): number;
  QTS_GetString(ctx: number, value: number): number;
  QTS_IsJobPending(rt: number): number;
  QTS_ExecutePendingJob(rt: number, maxJobs: number, lastContextOut: number): number;
  QTS_Call(ctx: number, fn: number, thisValue: number, argc: number, argvPointers: number): number;
  QTS_ResolveException(ctx: number, maybeException: number): number;
  QTS_Eval(ctx: number, code: number, length: number, filename: number, detectModule: number, flags: number): number;
  QTS_PromiseState(ctx: number, value: number): number;
  QTS_PromiseResult(ctx: number, value: number): number;
  QTS_RuntimeEnableInterruptHandler(rt: number): void;
  /** A new C string: the value's `typeof`. */
  QTS_Typeof(ctx: number, value: number): number;
  /** Writes the value's `length` to `*out`; 0, or -1 when reading it threw. */
  QTS_GetLength(ctx: number, out: number, value: number): number;
  QTS_GetFloat64(ctx: number, value: number): number;
}

/** `JSPromiseStateEnum`, and -1 for a value that is not a promise. */
export const PromiseState = { notAPromise: -1, pending: 0, fulfilled: 1, rejected: 2 } as const;

/** The exports of `instance` under their C names (after {@link checkAbi} accepted its module). */
export function quickjsExports(instance: WebAssembly.Instance): QuickJSExports {
  const out: Record<string, unknown> = {};
  for (const [cName, { name }] of Object.entries(EXPORTS)) out[cName] = instance.exports[name];
  // checkAbi compared every one of these exports' wasm signature with the table: the typed view holds.
  return out as unknown as QuickJSExports;
}

/** The QuickJS module's bytes from the installed npm package. */
export function loadQuickJSWasm(): Uint8Array {
  const require = createRequire(import.meta.url);
  let path: string;
  try {
    path = require.resolve(`${QUICKJS_PACKAGE}/wasm`);
  } catch (err) {
    throw new UnsupportedError(
      'QuickJS',
      `cowpool/quickjs needs the npm package ${QUICKJS_PACKAGE} (${QUICKJS_VERSIONS}); install it with ` +
        `\`npm install ${QUICKJS_PACKAGE}@${QUICKJS_VERSIONS.replace('.x', '')}\` or pass options.wasm`,
      { cause: err },
    );
  }
  return readFileSync(path);
}

const kLetter: Record<string, string> = { i32: 'i', i64: 'I', f32: 'f', f64: 'F' };

/**
 * Throws {@link UnsupportedError} unless the module `info` describes has the imports and exports
 * this table lists, with the same signatures.
 */
export function checkAbi(info: ModuleInfo): void {
  const problems: string[] = [];
  const functionType = (kind: 'import' | 'export', name: string): FuncType | undefined => {
    if (kind === 'import') {
      const entry = info.imports.find((i) => i.module === 'a' && i.name === name);
      return entry?.kind === 'function' ? info.types[entry.typeIndex] : undefined;
    }
    const entry = info.exports.find((e) => e.name === name && e.kind === 'function');
    if (entry === undefined) return undefined;
    if (entry.index < info.importedFunctionCount) return undefined;
    return info.types[info.functions[entry.index - info.importedFunctionCount]!];
  };
  const expect = (kind: 'import' | 'export', role: string, name: string, sig: Sig) => {
    const type = functionType(kind, name);
    const actual = type && signatureOf(type);
    if (actual === undefined) problems.push(`${kind} ${name} (${role}) is missing`);
    else if (actual[0] !== sig[0] || actual[1] !== sig[1]) {
      problems.push(`${kind} ${name} (${role}) is (${actual[0]})->(${actual[1]}), expected (${sig[0]})->(${sig[1]})`);
    }
  };
  for (const [role, entry] of Object.entries(IMPORTS)) if (typeof entry !== 'string') expect('import', role, entry.name, entry.sig);
  for (const [role, entry] of Object.entries(EXPORTS)) expect('export', role, entry.name, entry.sig);
  const memory = info.imports.find((i) => i.kind === 'memory');
  if (memory?.module !== 'a' || memory.name !== IMPORTS.memory) problems.push('the memory is not imported as "a"."a"');
  if (problems.length > 0) {
    throw new UnsupportedError(
      'QuickJS',
      `this QuickJS module is not the build cowpool/quickjs hosts (${QUICKJS_PACKAGE} ${QUICKJS_VERSIONS}): ` +
        `${problems.slice(0, 3).join('; ')}${problems.length > 3 ? `; and ${problems.length - 3} more` : ''}`,
    );
  }
}

function signatureOf(type: FuncType): Sig {
  return [type.params.map((t) => kLetter[t] ?? '?').join(''), type.results.map((t) => kLetter[t] ?? '?').join('')];
}
