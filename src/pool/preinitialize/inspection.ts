/**
 * Stage 1 of pre-initialization (Wizer's "instrument"): the module as initialization runs it, and
 * the memory it runs on. The inspection module is the pool's module with every internal mutable
 * global and every table exported (under the one prefix the pool's rewrite uses, `cowpool:global:`
 * and `cowpool:table:`), so that what initialization leaves in them can be read from JavaScript;
 * its memory is imported (the pool's) and its active data is stripped, since the memory it runs on
 * already holds the data image, as a fresh instance's would. For an interruptible pool it carries
 * the fuel counter as the pool's module does, its start function exported for `run.ts` to call once
 * the check is wired: initialization is guest code, bounded like a use.
 */
import type { RewritePlan } from '../../module/index.js';
import { rewriteModule } from '../../module/index.js';
import { WASM_PAGE_SIZE } from '../../module/wasm-page.js';
import {
  compile,
  GLOBAL_EXPORT_PREFIX,
  INTERRUPT_EXPORTS,
  MEMORY_IMPORT,
  TABLE_EXPORT_PREFIX,
  type AnalyzedModule,
  type ImageSpan,
  type Interruptible,
} from '../prepare.js';

/** The inspection module; see the module comment. */
export function inspectionModule(bytes: Uint8Array, analyzed: AnalyzedModule, interruptible: Interruptible): WebAssembly.Module {
  const plan: RewritePlan = {
    stripActiveData: analyzed.analysis.memory !== null,
    exportGlobals: { prefix: GLOBAL_EXPORT_PREFIX },
    exportTables: { prefix: TABLE_EXPORT_PREFIX },
  };
  if (interruptible)
    plan.interrupt = { ...INTERRUPT_EXPORTS, calls: interruptible !== 'loops', loopHeaders: analyzed.analysis.loopHeaders };
  if (analyzed.analysis.memory && !analyzed.analysis.memory.imported) plan.importMemory = { ...MEMORY_IMPORT };
  return compile(rewriteModule(bytes, analyzed.info, plan), bytes);
}

/**
 * The memory initialization runs on: the module's initial size with the data image (`span`) in it,
 * as a fresh instance's memory is before its start function runs. Undefined without a memory.
 */
export function initializationMemory(analyzed: AnalyzedModule, span: ImageSpan | undefined): WebAssembly.Memory | undefined {
  const memory = analyzed.analysis.memory;
  if (!memory) return undefined;
  const pages = span ? span.minimumBytes / WASM_PAGE_SIZE : memory.min;
  const created = new WebAssembly.Memory({ initial: pages, ...(memory.max !== undefined ? { maximum: memory.max } : {}) });
  if (span) new Uint8Array(created.buffer).set(span.bytes, span.start);
  return created;
}
