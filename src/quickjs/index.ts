/**
 * `cowpool/quickjs`: untrusted JavaScript per request, each use in a pristine QuickJS context.
 *
 * ```ts
 * import { QuickJSSandbox } from 'cowpool/quickjs';
 * const sandbox = await QuickJSSandbox.create({
 *   setup: 'function add(a, b) { return a + b }',
 *   functions: { lookup: async (key) => `${key}!` },  // host functions, sync or async
 *   modules: { 'lib.js': 'export const two = 2n' },    // ES modules the guest may import
 * });
 * await sandbox.eval('1 + 2');                           // 3
 * await sandbox.call('add', [40, 2]);                    // 42
 * await sandbox.eval('await lookup("a")');               // 'a!'
 * await sandbox.eval('(await import("lib.js")).two');    // 2n
 * ```
 *
 * QuickJS comes from the npm package `@jitl/quickjs-wasmfile-release-sync` (an optional peer
 * dependency): install it beside cowpool.
 */
export { QuickJSSandbox, type QuickJSSandboxOptions, type QuickJSSandboxStats, type QuickJSUseOptions } from './sandbox.js';
export { QuickJSError } from './errors.js';
export {
  createQuickJSHandler,
  createQuickJSServer,
  type QuickJSHandler,
  type QuickJSHandlerOptions,
  type QuickJSRequest,
  type QuickJSServer,
  type QuickJSServerOptions,
} from './serve.js';
export { GuestMemoryLimitError, type ConsoleEntry } from '../errors.js';
export { QUICKJS_PACKAGE, QUICKJS_VERSIONS } from './abi.js';
export { GuestTimeoutError, GuestTrapError, InvalidArgumentError, UnsupportedError } from '../errors.js';
export { AbortedError, PoolClosedError, QueueFullError, ThreadExitedError } from '../errors.js';
export type { SandboxDescription } from '../sandbox/engine.js';
export { HostFunctionError, UncloneableValueError } from '../errors.js';
export type { HostCall, HostFunction, HostFunctions } from './host-functions.js';
export type { ModuleLoader, ModuleSource } from './modules.js';
