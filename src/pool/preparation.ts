/**
 * Preparation: from the module's bytes and the pool's options to a {@link PreparedPool}, each step
 * in order, written once as steps for both drivers (`sync-or-async.ts`):
 *
 *     bytes ─(a host's validate and rewrite)─► poolSource (keepExports, virtualMemorySize)
 *           ─► analyzeForPool (mechanism; the code decoded once) ─► data image span
 *           ─► pre-initialization (an initializer, or a pure start function; `preinitialize/`): runs
 *              the module on the data image, and the state it leaves becomes the image span and
 *              the globals' starting values
 *           ─► rewriteForPool (the one rewrite, compiled)
 *
 * Each `yield` hands out what may be a promise (an async `setup`, a host's initialization that
 * waits). Everything it makes is plain data but the compiled module, handed out beside it; nothing
 * is left open on any path (the memfd is the assembly's, in `build.ts`). It also says whether the
 * result may be cached: not when it depends on what the user's imports returned.
 */
import { debuglog } from 'node:util';
import { readModule } from '../module/index.js';
import { InstanceHost, runSetup } from './instance-host.js';
import type { FilledOptions } from './options.js';
import { analyzeForPool, imageOf, poolSource, preinitializes, rewriteForPool, type ImageSpan, type Initialization } from './prepare.js';
import type { PreparedPool } from './prepared-pool.js';
import { initializationMemory } from './preinitialize/inspection.js';
import { preinitialize } from './preinitialize/pipeline.js';
import type { Steps } from './sync-or-async.js';

const debug = debuglog('cowpool');

/** What {@link prepare} makes: the prepared pool, its module compiled, and whether it may be cached. */
export interface Preparation {
  readonly prepared: PreparedPool;
  readonly module: WebAssembly.Module;
  /** True, or why the result must not be cached (it depends on what the user's imports returned). */
  readonly cacheable: true | string;
}

/** The pipeline; see the module comment. */
export function* prepare<S, C>(source: Uint8Array, filled: FilledOptions<S, C>): Steps<Preparation> {
  const { plan } = filled;
  const initializer = plan.initialize;
  const times = [performance.now()];
  let cacheable: true | string = initializer?.kind === 'export' ? 'options.initialize runs your code with your imports' : true;
  let module = source;
  let info = readModule(source);
  if (initializer?.kind === 'function') {
    initializer.validate?.(info);
    if (initializer.rewrite) {
      module = initializer.rewrite(source, info);
      info = readModule(module);
    }
  }
  const bytes = poolSource(module, plan, info);
  const analyzed = analyzeForPool(bytes, plan);
  times.push(performance.now());
  let span: ImageSpan | undefined;
  if (analyzed.analysis.memory) {
    // Data offsets may read imported globals: then take them from the imports a pooled instance would get.
    let scratch: { imports: WebAssembly.Imports } | undefined;
    if (analyzed.info.imports.some((i) => i.kind === 'global')) {
      scratch = (yield runSetup(filled.setup, new InstanceHost<S, C>(undefined))) as { imports: WebAssembly.Imports };
      cacheable = 'the image is placed by imported globals, whose values are your imports';
    }
    span = imageOf(analyzed, bytes, importedGlobalValues(analyzed, scratch?.imports));
  }
  let init: Initialization | undefined;
  let initialization: PreparedPool['initialization'];
  if (preinitializes(analyzed, plan)) {
    const memory = initializationMemory(analyzed, span);
    const { imports } =
      initializer?.kind === 'function'
        ? { imports: initializer.imports(memory) }
        : ((yield runSetup(filled.setup, new InstanceHost<S, C>(memory))) as { imports: WebAssembly.Imports });
    const done = yield* preinitialize(bytes, analyzed, plan, memory, imports);
    ({ span, init } = done);
    if (initializer?.kind === 'function')
      initialization = { result: done.snapshot.result, usedBytes: done.snapshot.memory?.usedBytes ?? 0 };
  }
  times.push(performance.now());
  const rewritten = rewriteForPool(bytes, analyzed, plan, init);
  times.push(performance.now());
  const [analysis, image, rewrite] = times.slice(1).map((t, i) => (t - times[i]!).toFixed(1));
  debug('prepared: analysis %s ms, image (and initialization) %s ms, rewrite %s ms', analysis, image, rewrite);
  return {
    prepared: { bytes: rewritten.bytes, plan: rewritten.plan, image: span, initialization },
    module: rewritten.module,
    cacheable,
  };
}

/** Imported global values for image offsets, read from the imports a pooled instance would get. */
function importedGlobalValues(
  analyzed: { info: { imports: readonly { kind: string; index: number; module: string; name: string }[] } },
  imports: WebAssembly.Imports | undefined,
): (index: number) => number | bigint | undefined {
  return (index) => {
    const entry = analyzed.info.imports.find((i) => i.kind === 'global' && i.index === index);
    if (!entry || !imports) return undefined;
    const value = imports[entry.module]?.[entry.name];
    if (value instanceof WebAssembly.Global) return value.value as number | bigint;
    return typeof value === 'number' || typeof value === 'bigint' ? value : undefined;
  };
}
