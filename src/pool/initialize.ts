/**
 * Pre-initialization (as Wizer does it): run an export once, then make its result the starting
 * point of every use. The memory after the call becomes the image; the globals it changed become
 * initial values (restored values for `reuse`, rewritten initializers for `reinstantiate`, whose
 * start function is removed since its effects are in the snapshot). Tables and dropped segments
 * cannot be carried over, so a module whose initialization could change them is refused.
 *
 * This step only observes: it returns an {@link Initialization} that the one rewrite of the module
 * (`rewriteForPool`) bakes in together with every other option of the plan.
 */
import { GuestTrapError, InvalidArgumentError, ModuleNotPoolableError } from '../errors.js';
import { MemoryImage } from '../memory/index.js';
import { bindImports } from './pooled-instance.js';
import { globalExportName, inspectionModule, tableExportName, type AnalyzedModule, type Initialization } from './prepare.js';

/** A memory for pre-initialization: the module's initial size with the image's bytes in it. */
export function initializationMemory(analyzed: AnalyzedModule, image: MemoryImage | undefined): WebAssembly.Memory | undefined {
  const memory = analyzed.analysis.memory;
  if (!memory) return undefined;
  const pages = image ? image.minimumBytes / 65536 : memory.min;
  const created = new WebAssembly.Memory({ initial: pages, ...(memory.max !== undefined ? { maximum: memory.max } : {}) });
  if (image) new Uint8Array(created.buffer).set(image.bytes, image.start);
  return created;
}

/**
 * Runs export `name` on `memory` (from {@link initializationMemory}) with `imports`, and returns
 * what it changed and the image every use starts from.
 */
export function preinitialize(
  bytes: Uint8Array,
  analyzed: AnalyzedModule,
  name: string,
  memory: WebAssembly.Memory | undefined,
  imports: WebAssembly.Imports,
): { init: Initialization; image: MemoryImage | undefined } {
  const { analysis } = analyzed;
  if (analysis.dataDrop || analysis.elemDrop) {
    throw new ModuleNotPoolableError(`options.initialize: the module can drop segments, whose state a snapshot cannot keep`);
  }
  const module = inspectionModule(bytes, analyzed);
  const instance = new WebAssembly.Instance(module, bindImports(module, analyzed.memoryImport, imports, memory));
  const init = instance.exports[name];
  if (typeof init !== 'function') {
    const functions = WebAssembly.Module.exports(module).filter((e) => e.kind === 'function').map((e) => e.name);
    throw new InvalidArgumentError(
      `options.initialize is '${name}' but the module exports no function of that name (it exports: ${functions.join(', ') || 'none'})`,
    );
  }
  const tablesBefore = tableEntries(analyzed, instance);
  const globalsBefore = mutableGlobals(analyzed, instance);
  try {
    (init as () => unknown)();
  } catch (err) {
    if (err instanceof WebAssembly.RuntimeError) {
      throw new GuestTrapError(`options.initialize '${name}' trapped: ${err.message}`, { cause: err });
    }
    throw err;
  }
  for (const [index, entries] of tablesBefore) {
    const table = instance.exports[tableExportName(analysis, index)] as WebAssembly.Table | undefined;
    const after = table ? Array.from({ length: table.length }, (_, i) => table.get(i)) : entries;
    if (after.length !== entries.length || after.some((v, i) => v !== entries[i])) {
      throw new ModuleNotPoolableError(`options.initialize '${name}' changed table ${index}, which a snapshot cannot keep`);
    }
  }
  const snapshot = memory ? new Uint8Array(memory.buffer).slice() : undefined;
  const globals = mutableGlobals(analyzed, instance).filter((g, i) => !Object.is(g.value, globalsBefore[i]!.value));
  const image = snapshot ? MemoryImage.fromContents(snapshot, { name: 'cowpool-image' }) : undefined;
  return { init: { ...(snapshot ? { initialPages: snapshot.length / 65536 } : {}), globals }, image };
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
    if (table) out.set(index, Array.from({ length: table.length }, (_, i) => table.get(i)));
  }
  return out;
}
