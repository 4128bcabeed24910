/**
 * The construction pipeline: from the module's bytes and the pool's options to the parts a pool is
 * made of, each step in order, written once as steps for both drivers (`sync-or-async.ts`):
 *
 *     options ─fillOptions─► plan
 *     bytes ─poolSource (keepExports, virtualMemorySize)─► analyzeForPool (mechanism) ─► data image span
 *           ─► pre-initialization (an initializer, or a pure start function; `preinitialize/`): runs
 *              the module on the data image, and the state it leaves becomes the image span and
 *              the globals' starting values
 *           ─► rewriteForPool (the one rewrite) ─► the image's memfd ─► initialMemory (a larger one)
 *           ─► the reset strategy, resolved once for the image's size
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
} from './prepare.js';
import { initializationMemory } from './preinitialize/inspection.js';
import { preinitialize } from './preinitialize/pipeline.js';
import type { Steps } from './sync-or-async.js';
import type { ModuleSource } from './types.js';

/** What a pool is made of. The image, when there is one, is open: the pool owns it from here. */
export interface PoolParts<S, C> {
  readonly options: FilledOptions<S, C>;
  readonly prepared: PreparedModule;
  readonly image: MemoryImage | undefined;
  /** The reset strategy (never `auto`), or `none` without a memory; and why it is not `pagemap`. */
  readonly strategy: { readonly strategy: ResetStrategy | 'none'; readonly reason?: string };
}

/** The pipeline; see the module comment. */
export function* build<S, C>(source: ModuleSource, options: PoolOptions<S, C> | undefined): Steps<PoolParts<S, C>> {
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
  const prepared = rewriteForPool(bytes, analyzed, plan, init);
  let image = span ? MemoryImage.create({ start: span.start, bytes: span.bytes }, span.minimumBytes, { name: 'cowpool-image' }) : undefined;
  // From here on the image's memfd is open: every failure path closes it.
  try {
    if (image && typeof filled.initialMemory === 'number') image = enlarged(image, filled.initialMemory, prepared.memoryPages?.maximum);
    const strategy = image ? strategyFor(filled.strategy, image.minimumBytes) : { strategy: 'none' as const };
    return { options: filled, prepared, image, strategy };
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
