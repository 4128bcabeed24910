/**
 * The construction pipeline: from the module's bytes and the pool's options to the parts a pool is
 * made of, each step in order, written once as steps for both drivers (`sync-or-async.ts`):
 *
 *     options ─fillOptions─► plan
 *     bytes ─poolSource (keepExports, virtualMemorySize)─► analyzeForPool (mechanism) ─► data image span
 *           ─► pre-initialization (an initializer, or a pure start function; `preinitialize/`): runs
 *              the module on the data image, and the state it leaves becomes the image span and
 *              the globals' starting values
 *           ─► rewriteForPool (the one rewrite)                       ── prepareModule: data only
 *           ─► the image's memfd ─► initialMemory (a larger one)      ── assemble
 *           ─► the reset strategy, resolved once for the image's size
 *
 * The two halves are apart so that the first, which runs guest code (a start function, an
 * initializer), can run on a worker thread that is ended if it overruns, and send back only data:
 * the process then makes the one memfd itself (`threads/`).
 *
 * Each `yield` hands out what may be a promise (an async `setup`). Whatever fails, nothing stays
 * open: the image's memfd, made last, is closed on every failure path. Members are the pool's to make.
 */
import { InvalidArgumentError } from '../errors.js';
import { chooseStrategy, MemoryImage, type ResetStrategy } from '../memory/index.js';
import { InstanceHost, runSetup } from './instance-host.js';
import { enlarged } from './learn-size.js';
import { fillOptions, type FilledOptions, type PoolOptions } from './options.js';
import {
  analyzeForPool,
  imageOf,
  poolSource,
  preinitializes,
  rewriteForPool,
  type ImageSpan,
  type Initialization,
  type PreparedModule,
  type RunnableModule,
} from './prepare.js';
import { initializationMemory } from './preinitialize/inspection.js';
import { preinitialize } from './preinitialize/pipeline.js';
import type { Steps } from './sync-or-async.js';
import type { ModuleSource } from './types.js';

/** What a pool is made of. The image, when there is one, is open: the pool owns it from here. */
export interface PoolParts<S, C> {
  readonly options: FilledOptions<S, C>;
  readonly prepared: RunnableModule;
  readonly image: MemoryImage | undefined;
  /** The reset strategy (never `auto`), or `none` without a memory; and why it is not `pagemap`. */
  readonly strategy: { readonly strategy: ResetStrategy | 'none'; readonly reason?: string };
}

/** What {@link prepareModule} makes: data only, the image still bytes (no memfd yet). */
export interface Preparation<S, C> {
  readonly options: FilledOptions<S, C>;
  readonly prepared: PreparedModule;
  readonly span: ImageSpan | undefined;
}

/** The pipeline; see the module comment. */
export function* build<S, C>(source: ModuleSource, options: PoolOptions<S, C> | undefined): Steps<PoolParts<S, C>> {
  const { options: filled, prepared, span } = yield* prepareModule<S, C>(source, options);
  return assemble(filled, prepared, span);
}

/** The first half of the pipeline, up to the rewrite: everything that runs guest code, and no memfd. */
export function* prepareModule<S, C>(source: ModuleSource, options: PoolOptions<S, C> | undefined): Steps<Preparation<S, C>> {
  const filled = fillOptions(options);
  const { plan } = filled;
  const bytes = poolSource(toBytes(source), plan, filled.virtualMemorySize);
  const analyzed = analyzeForPool(bytes, plan);
  let span: ImageSpan | undefined;
  if (analyzed.analysis.memory) {
    // Data offsets may read imported globals: then take them from the imports a pooled instance would get.
    const scratch = analyzed.info.imports.some((i) => i.kind === 'global')
      ? ((yield runSetup(filled.setup, new InstanceHost<S, C>(undefined))) as { imports: WebAssembly.Imports })
      : undefined;
    span = imageOf(analyzed, bytes, importedGlobalValues(analyzed, scratch?.imports));
  }
  let init: Initialization | undefined;
  if (preinitializes(analyzed, plan)) {
    const memory = initializationMemory(analyzed, span);
    const initializer = plan.initialize;
    const { imports } =
      initializer?.kind === 'function'
        ? { imports: initializer.imports(memory) }
        : ((yield runSetup(filled.setup, new InstanceHost<S, C>(memory))) as { imports: WebAssembly.Imports });
    ({ span, init } = preinitialize(bytes, analyzed, plan, memory, imports));
  }
  return { options: filled, prepared: rewriteForPool(bytes, analyzed, plan, init), span };
}

/**
 * The second half: the image's memfd from the span, enlarged to `initialMemory`, and the reset
 * strategy for its size. Runs where the pool's process is (a memfd is the process's).
 */
export function assemble<S, C>(options: FilledOptions<S, C>, prepared: RunnableModule, span: ImageSpan | undefined): PoolParts<S, C> {
  let image = span ? MemoryImage.create({ start: span.start, bytes: span.bytes }, span.minimumBytes, { name: 'cowpool-image' }) : undefined;
  // From here on the image's memfd is open: every failure path closes it.
  try {
    if (image && typeof options.initialMemory === 'number') image = enlarged(image, options.initialMemory, prepared.memoryPages?.maximum);
    const strategy = image ? strategyFor(options.strategy, image.minimumBytes) : { strategy: 'none' as const };
    return { options, prepared, image, strategy };
  } catch (err) {
    image?.close();
    throw err;
  }
}

function toBytes(source: ModuleSource): Uint8Array {
  if (source instanceof WebAssembly.Module) {
    throw new InvalidArgumentError(
      'InstancePool needs the module bytes to build its memory image and rewrite it; pass the .wasm bytes ' +
        '(a compiled WebAssembly.Module does not expose them)',
    );
  }
  if (source instanceof Uint8Array) return source;
  if (ArrayBuffer.isView(source)) return new Uint8Array(source.buffer, source.byteOffset, source.byteLength);
  if (source instanceof ArrayBuffer) return new Uint8Array(source);
  throw new InvalidArgumentError('source must be the module bytes (a Uint8Array, Buffer or ArrayBuffer)');
}

/** The one place `auto` becomes a strategy: members are given a concrete one. */
function strategyFor(requested: 'auto' | ResetStrategy, memoryBytes: number): { strategy: ResetStrategy; reason?: string } {
  return requested === 'auto' ? chooseStrategy(memoryBytes) : { strategy: requested };
}

/** Imported global values for image offsets, read from the imports a pooled instance would get. */
function importedGlobalValues(
  analyzed: { info: PreparedModule['info'] },
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
