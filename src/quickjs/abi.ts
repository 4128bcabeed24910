/**
 * The ABI of the QuickJS build cowpool hosts: `@jitl/quickjs-wasmfile-release-sync` (quickjs-emscripten's
 * release build with a separate `.wasm`). Emscripten minifies import and export names, so this file is
 * the one place that knows which letter is which function; {@link checkAbi} compares the module's
 * actual signatures with this table and refuses a build whose ABI differs, instead of calling the wrong
 * function.
 *
 * cowpool does not run emscripten's JavaScript glue: every import the module needs is implemented by
 * `imports.ts`, and every piece of state lives in the wasm memory and globals, which the pool resets.
 */
import { abiProblems, exportsByRole, packageFile, refuseUnless, type AbiFunction } from '../emscripten/abi.js';
import type { ModuleInfo } from '../module/index.js';

/** The npm package the QuickJS module comes from, and the versions whose ABI {@link IMPORTS} describes. */
export const QUICKJS_PACKAGE = '@jitl/quickjs-wasmfile-release-sync';
export const QUICKJS_VERSIONS = '0.32.x';

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
} as const satisfies Record<string, string | AbiFunction>;

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
  QTS_NewFloat64: { name: 'Y', sig: ['iF', 'i'] },
  QTS_Throw: { name: 'w', sig: ['ii', 'i'] },
  QTS_NewFunction: { name: 'Da', sig: ['iiiii', 'i'] },
  QTS_ArgvGetJSValueConstPointer: { name: 'Ea', sig: ['ii', 'i'] },
  QTS_RuntimeEnableModuleLoader: { name: 'Ha', sig: ['ii', ''] },
  QTS_NewArrayBuffer: { name: 'X', sig: ['iii', 'i'] },
  QTS_GetArrayBuffer: { name: 'aa', sig: ['ii', 'i'] },
  QTS_GetArrayBufferLength: { name: 'ba', sig: ['ii', 'i'] },
} as const satisfies Record<string, AbiFunction>;

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
  /** A new number (`JSValue*`). */
  QTS_NewFloat64(ctx: number, value: number): number;
  /** Makes `error` (`JSValueConst*`) the context's pending exception; returns the exception marker. */
  QTS_Throw(ctx: number, error: number): number;
  /**
   * A new function (`JSValue*`) that calls the `callFunction` import with `hostRefId`, its `this`
   * and its arguments; `name` is a C string.
   */
  QTS_NewFunction(ctx: number, name: number, length: number, isConstructor: number, hostRefId: number): number;
  /** `&argv[index]`: the `JSValueConst*` of argument `index` of a `callFunction`. */
  QTS_ArgvGetJSValueConstPointer(argv: number, index: number): number;
  /** Makes QuickJS ask the `loadModuleSource` import for modules (with its own name normalization unless `customNormalize`). */
  QTS_RuntimeEnableModuleLoader(rt: number, customNormalize: number): void;
  /** A new ArrayBuffer over `length` bytes at `buffer` (from `malloc`), which it takes and frees. */
  QTS_NewArrayBuffer(ctx: number, buffer: number, length: number): number;
  /** A `malloc`ed copy of an ArrayBuffer's bytes (0 for a value that is none, or an empty one). */
  QTS_GetArrayBuffer(ctx: number, value: number): number;
  /** An ArrayBuffer's length in bytes. */
  QTS_GetArrayBufferLength(ctx: number, value: number): number;
}

/** `JS_EVAL_*` flags of `QTS_Eval`. */
export const EvalFlags = {
  /** Module code (detected anyway when the code begins with `import` or `export`). */
  module: 1 << 0,
  /** A script that may use `await` at top level: it returns a promise of `{ value }`. */
  async: 1 << 7,
} as const;

/** `JSPromiseStateEnum`, and -1 for a value that is not a promise. */
export const PromiseState = { notAPromise: -1, pending: 0, fulfilled: 1, rejected: 2 } as const;

/** The exports of `instance` under their C names (after {@link checkAbi} accepted its module). */
export function quickjsExports(instance: WebAssembly.Instance): QuickJSExports {
  return exportsByRole<QuickJSExports>(instance, EXPORTS);
}

/** The QuickJS module's bytes from the installed npm package. */
export function loadQuickJSWasm(): Uint8Array {
  return packageFile(QUICKJS_PACKAGE, 'wasm', QUICKJS_VERSIONS, 'QuickJS', 'cowpool/quickjs');
}

/**
 * Throws {@link UnsupportedError} unless the module `info` describes has the imports and exports
 * this table lists, with the same signatures.
 */
export function checkAbi(info: ModuleInfo): void {
  const { memory: memoryName, ...functions } = IMPORTS;
  const problems = abiProblems(info, { namespace: 'a', imports: functions, exports: EXPORTS });
  const memory = info.imports.find((i) => i.kind === 'memory');
  if (memory?.module !== 'a' || memory.name !== memoryName) problems.push('the memory is not imported as "a"."a"');
  refuseUnless(problems, 'QuickJS', `this QuickJS module is not the build cowpool/quickjs hosts (${QUICKJS_PACKAGE} ${QUICKJS_VERSIONS})`);
}
