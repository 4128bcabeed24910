/**
 * Pre-initialization (as Wizer does it): instantiate once (a start function runs then) and
 * optionally run an export, then make the result the starting point of every use. The memory after the call becomes the image; the globals it changed become
 * initial values (restored values for `reuse`, rewritten initializers for `reinstantiate`, whose
 * start function is removed since its effects are in the snapshot). Tables and dropped segments
 * cannot be carried over, so a module whose initialization could change them is refused.
 *
 * This step only observes: it returns an {@link Initialization} that the one rewrite of the module
 * (`rewriteForPool`) bakes in together with every other option of the plan.
 */
import { GuestTrapError, InvalidArgumentError, ModuleNotPoolableError } from '../errors.js';
import { MemoryImage } from '../memory/index.js';
import { WASM_PAGE_SIZE } from '../module/wasm-page.js';
import { bindImports } from './bind-imports.js';
import {
  globalExportName,
  initializerName,
  inspectionModule,
  tableExportName,
  type AnalyzedModule,
  type Initialization,
  type ModulePlan,
} from './prepare.js';

/** A memory for pre-initialization: the module's initial size with the image's bytes in it. */
export function initializationMemory(analyzed: AnalyzedModule, image: MemoryImage | undefined): WebAssembly.Memory | undefined {
  const memory = analyzed.analysis.memory;
  if (!memory) return undefined;
  const pages = image ? image.minimumBytes / WASM_PAGE_SIZE : memory.min;
  const created = new WebAssembly.Memory({ initial: pages, ...(memory.max !== undefined ? { maximum: memory.max } : {}) });
  if (image) new Uint8Array(created.buffer).set(image.bytes, image.start);
  return created;
}

/** Modules whose imports come from these are WASI programs: their `_start` is the whole program. */
const WASI_MODULES = ['wasi_snapshot_preview1', 'wasi_unstable'];

/**
 * Instantiates the module on `memory` (from {@link initializationMemory}) with `imports` (its start
 * function runs then), runs `plan.initialize` if any, and returns what changed and the image every
 * use starts from.
 */
export function preinitialize(
  bytes: Uint8Array,
  analyzed: AnalyzedModule,
  plan: ModulePlan,
  memory: WebAssembly.Memory | undefined,
  imports: WebAssembly.Imports,
): { init: Initialization; image: MemoryImage | undefined } {
  const { analysis } = analyzed;
  const what = initializerName(analyzed, plan);
  if (analysis.dataDrop || analysis.elemDrop) {
    throw new ModuleNotPoolableError(`${what}: the module can drop segments, whose state a snapshot cannot keep`);
  }
  const initializer = plan.initialize;
  if (initializer?.name === '_start' && analyzed.info.imports.some((i) => WASI_MODULES.includes(i.module))) {
    throw new InvalidArgumentError(
      "options.initialize is '_start', a WASI command's whole program (it ends in proc_exit), not an initializer: " +
        'export a function that only sets up state (a reactor built with -mexec-model=reactor, say) and name it, ' +
        'or run the command once per use with cowpool/wasi',
    );
  }
  const module = inspectionModule(bytes, analyzed);
  let instance: WebAssembly.Instance;
  try {
    instance = new WebAssembly.Instance(module, bindImports(module, analyzed.memoryImport, imports, memory));
  } catch (err) {
    throw initializationError(what, err);
  }
  const tablesBefore = tableEntries(analyzed, instance);
  const globalsBefore = mutableGlobals(analyzed, instance);
  if (initializer !== undefined) {
    const init = instance.exports[initializer.name];
    if (typeof init !== 'function') {
      const functions = WebAssembly.Module.exports(module)
        .filter((e) => e.kind === 'function')
        .map((e) => e.name);
      throw new InvalidArgumentError(
        `options.initialize is '${initializer.name}' but the module exports no function of that name (it exports: ${functions.join(', ') || 'none'})`,
      );
    }
    try {
      (init as (...args: unknown[]) => unknown)(...initializer.args);
    } catch (err) {
      throw initializationError(what, err);
    }
  }
  for (const [index, entries] of tablesBefore) {
    const table = instance.exports[tableExportName(analysis, index)] as WebAssembly.Table | undefined;
    const after = table ? Array.from({ length: table.length }, (_, i) => table.get(i)) : entries;
    if (after.length !== entries.length || after.some((v, i) => v !== entries[i])) {
      throw new ModuleNotPoolableError(`${what} changed table ${index}, which a snapshot cannot keep`);
    }
  }
  const snapshot = memory ? new Uint8Array(memory.buffer).slice() : undefined;
  // With an initializer, what it changed; with a start function alone, "before" is after it ran:
  // every numeric global's value then (the start function writes no other kind; see start-analysis).
  const globals = mutableGlobals(analyzed, instance).filter((g, i) =>
    initializer === undefined ? typeof g.value === 'number' || typeof g.value === 'bigint' : !Object.is(g.value, globalsBefore[i]!.value),
  );
  const image = snapshot ? MemoryImage.fromContents(snapshot, { name: 'cowpool-image' }) : undefined;
  return { init: { ...(snapshot ? { initialPages: snapshot.length / WASM_PAGE_SIZE } : {}), globals }, image };
}

/** A failure of the module's initialization as a typed error that names what ran. */
function initializationError(what: string, err: unknown): Error {
  if (err instanceof WebAssembly.RuntimeError) return new GuestTrapError(`${what} trapped: ${err.message}`, { cause: err });
  if (err instanceof Error && 'code' in err && String(err.code).startsWith('COWPOOL_')) return err;
  const message = err instanceof Error ? `${err.name}: ${err.message}` : String(err);
  return new ModuleNotPoolableError(`${what} failed (${message}), so no image can be made from it`, { cause: err });
}

function mutableGlobals(analyzed: AnalyzedModule, instance: WebAssembly.Instance) {
  return analyzed.analysis.globals
    .filter((g) => !g.imported && g.mutable && g.type !== 'v128')
    .map((g) => {
      const name = globalExportName(analyzed.analysis, g.index);
      return { index: g.index, name, value: (instance.exports[name] as WebAssembly.Global).value };
    });
}

function tableEntries(analyzed: AnalyzedModule, instance: WebAssembly.Instance): Map<number, unknown[]> {
  const out = new Map<number, unknown[]>();
  for (const { index } of analyzed.analysis.tables.filter((t) => !t.imported)) {
    const table = instance.exports[tableExportName(analyzed.analysis, index)] as WebAssembly.Table | undefined;
    if (table)
      out.set(
        index,
        Array.from({ length: table.length }, (_, i) => table.get(i)),
      );
  }
  return out;
}
