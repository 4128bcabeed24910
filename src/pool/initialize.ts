/**
 * Pre-initialization (as Wizer does it): run an export once, then make its result the starting
 * point of every use. The memory after the call becomes the image; the globals it changed become
 * initial values (restored values for `reuse`, rewritten initializers for `reinstantiate`, whose
 * start function is removed since its effects are in the snapshot). Tables and dropped segments
 * cannot be carried over, so a module whose initialization could change them is refused.
 */
import { GuestTrapError, InvalidArgumentError, ModuleNotPoolableError } from '../errors.js';
import { MemoryImage } from '../memory/index.js';
import type { FilledOptions } from './options.js';
import { bindImports, InstanceHost } from './pooled-instance.js';
import { globalExportName, inspectionModule, prepareModule, tableExportName, type PreparedModule } from './prepare.js';

/** Runs `options.initialize` and returns the module and image every use starts from. */
export function preinitialize<C>(
  bytes: Uint8Array,
  prepared: PreparedModule,
  image: MemoryImage | undefined,
  options: FilledOptions<C>,
): { prepared: PreparedModule; image: MemoryImage | undefined } {
  const name = options.initialize!;
  const { analysis } = prepared;
  if (analysis.dataDrop || analysis.elemDrop) {
    throw new ModuleNotPoolableError(`options.initialize: the module can drop segments, whose state a snapshot cannot keep`);
  }
  const memory = prepared.memoryPages ? new WebAssembly.Memory(prepared.memoryPages) : undefined;
  if (memory && image) new Uint8Array(memory.buffer).set(image.bytes, image.start);
  const host = new InstanceHost<C>(memory);
  const module = inspectionModule(bytes, prepared);
  const inspected = { ...prepared, module };
  const instance = new WebAssembly.Instance(module, bindImports(inspected, options.imports(host), memory));
  host.instance = instance;
  const init = instance.exports[name];
  if (typeof init !== 'function') {
    const functions = WebAssembly.Module.exports(module).filter((e) => e.kind === 'function').map((e) => e.name);
    throw new InvalidArgumentError(
      `options.initialize is '${name}' but the module exports no function of that name (it exports: ${functions.join(', ') || 'none'})`,
    );
  }
  const tablesBefore = tableEntries(prepared, instance);
  const globalsBefore = mutableGlobals(prepared, instance);
  try {
    (init as () => unknown)();
  } catch (err) {
    if (err instanceof WebAssembly.RuntimeError) {
      throw new GuestTrapError(`options.initialize '${name}' trapped: ${err.message}`, { cause: err });
    }
    throw err;
  }
  for (const [index, entries] of tablesBefore) {
    const table = instance.exports[tableExportName(prepared.analysis, index)] as WebAssembly.Table | undefined;
    const after = table ? Array.from({ length: table.length }, (_, i) => table.get(i)) : entries;
    if (after.length !== entries.length || after.some((v, i) => v !== entries[i])) {
      throw new ModuleNotPoolableError(`options.initialize '${name}' changed table ${index}, which a snapshot cannot keep`);
    }
  }
  const snapshot = memory ? new Uint8Array(memory.buffer).slice() : undefined;
  const changed = mutableGlobals(prepared, instance).filter((g, i) => !Object.is(g.value, globalsBefore[i]!.value));
  const nextImage = snapshot ? MemoryImage.fromContents(snapshot, { name: 'cowpool-image' }) : undefined;
  const initialPages = snapshot ? snapshot.length / 65536 : undefined;
  if (prepared.mechanism === 'reuse') {
    const again = prepareModule(bytes, { mechanism: 'reuse', ...(initialPages ? { initialPages } : {}) });
    return {
      prepared: { ...again, globalOverrides: changed.map((g) => ({ name: g.name, value: g.value })) },
      image: nextImage,
    };
  }
  const globalInits = new Map<number, number | bigint>();
  for (const g of changed) {
    if (typeof g.value !== 'number' && typeof g.value !== 'bigint') {
      throw new ModuleNotPoolableError(`options.initialize '${name}' changed reference global ${g.index}, which a snapshot cannot keep`);
    }
    globalInits.set(g.index, g.value);
  }
  const again = prepareModule(bytes, {
    mechanism: 'reinstantiate',
    plan: { globalInits, removeStart: true },
    ...(initialPages ? { initialPages } : {}),
  });
  return { prepared: again, image: nextImage };
}

function mutableGlobals(prepared: PreparedModule, instance: WebAssembly.Instance) {
  return prepared.analysis.globals
    .filter((g) => !g.imported && g.mutable && g.type !== 'v128')
    .map((g) => {
      const name = globalExportName(prepared.analysis, g.index);
      return { index: g.index, name, value: (instance.exports[name] as WebAssembly.Global).value };
    });
}

function tableEntries(prepared: PreparedModule, instance: WebAssembly.Instance): Map<number, unknown[]> {
  const out = new Map<number, unknown[]>();
  for (const { index } of prepared.analysis.tables.filter((t) => !t.imported)) {
    const table = instance.exports[tableExportName(prepared.analysis, index)] as WebAssembly.Table | undefined;
    if (table) out.set(index, Array.from({ length: table.length }, (_, i) => table.get(i)));
  }
  return out;
}
