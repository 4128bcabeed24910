/**
 * The engine of a `QuickJSSandbox`'s worker threads (`threads` option): a pool of one QuickJS
 * context over the image the sandbox prepared once (`pool/shared-parts.ts`: nothing initialized
 * again, no new memfd), with the host functions and the modules loaded from their module files on
 * this thread (a function cannot be posted), running each use's request as the calling thread's
 * pool would (`runner.ts`).
 */
import { InstancePool } from '../pool/instance-pool.js';
import { FROM_PREPARED } from '../pool/prepared-pool.js';
import { adoptParts, type SharedPoolParts } from '../pool/shared-parts.js';
import { PoolEngine } from '../sandbox/engine.js';
import { threadEngine, type ThreadRequest } from '../sandbox/threaded-engine.js';
import type { Engine } from '../threads/engine.js';
import { importHostFunctions, NO_HOST_FUNCTIONS } from './host-functions.js';
import { preparedPoolOptions, type QuickJSImage, type QuickJSPoolOptions } from './image.js';
import type { HostBindings } from './imports.js';
import { importModuleLoader, moduleLoader } from './modules.js';
import { QuickJSRunner, type QuickJSRequest } from './runner.js';
import type { UseResult } from './session.js';
import type { UseState } from './use-state.js';

/** What each thread is built from: plain data (the modules' files as URLs). */
export interface QuickJSThreadParts {
  readonly pool: SharedPoolParts;
  /** The pool's own options (sizing, not shaping: that is the prepared pool's). */
  readonly options: QuickJSPoolOptions;
  readonly image: QuickJSImage;
  /** The URL of the module whose exports are the host functions, if any. */
  readonly functions: string | undefined;
  /** `options.modules`: a map of sources, or the URL of a module file that exports the loader. */
  readonly modules: string | Readonly<Record<string, string>> | undefined;
}

/** The host functions and modules of a thread, loaded from `parts`. */
export async function threadBindings(parts: Pick<QuickJSThreadParts, 'functions' | 'modules'>): Promise<HostBindings> {
  const functions = parts.functions === undefined ? NO_HOST_FUNCTIONS : await importHostFunctions(parts.functions, 'options.functions');
  const modules =
    typeof parts.modules === 'string'
      ? await importModuleLoader(parts.modules, 'options.modules')
      : moduleLoader(parts.modules, 'options.modules');
  return { functions, modules };
}

/** See the module comment. */
export async function createEngine(parts: QuickJSThreadParts): Promise<Engine<ThreadRequest<QuickJSRequest>, UseResult>> {
  const bindings = await threadBindings(parts);
  const { prepared, ready } = adoptParts(parts.pool);
  const pool = await InstancePool[FROM_PREPARED]<WebAssembly.Exports, undefined, UseState>(
    prepared,
    { ...preparedPoolOptions(bindings, parts.options), max: 1, min: 1 },
    ready,
  );
  return threadEngine(new PoolEngine(pool, new QuickJSRunner(parts.image)));
}
