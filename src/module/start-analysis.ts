/**
 * `analyzeStart`: can the start function run once, when the image is made, instead of at every
 * instantiation? It can when everything it may execute only computes and writes the module's own
 * memory and globals: then running it once and capturing memory and globals (pre-initialization)
 * gives every use exactly what a fresh instance's start would, and the start function can be
 * dropped, so that `reuse` stays possible. Toolchains emit such start functions often (QuickJS's
 * zero-fills memory, C constructors that only set up static data).
 *
 * What it may execute: the closure of the start function under direct calls. Anything that reaches
 * outside the module or changes state a snapshot does not capture makes it impure: a call to an
 * import (the host could do anything, and a fresh instance would call it again), an indirect call
 * (its target is not known here), reading an imported global (its value is the host's), growing
 * memory (the image is the declared initial size), changing a table, dropping a segment, writing
 * a global that is not a number (a snapshot keeps numbers only).
 */
import { walkInstructions } from './instructions.js';
import { Op } from './opcodes.js';
import type { ModuleInfo } from './types.js';

const NUMERIC = new Set(['i32', 'i64', 'f32', 'f64']);

/** The result of {@link analyzeStart}. */
export type StartAnalysis =
  /** The module has no start function. */
  | { readonly kind: 'none' }
  /** The start function only writes the module's own memory and globals: it can run at image time. */
  | { readonly kind: 'pure'; readonly function: number }
  /** It may do something a snapshot cannot capture: `reason` says what, and where. */
  | { readonly kind: 'impure'; readonly function: number; readonly reason: string };

/**
 * Analyzes the start function of a module read by `readModule` from `bytes`.
 *
 * @throws MalformedModuleError (section `code`) if a body cannot be decoded.
 */
export function analyzeStart(info: ModuleInfo, bytes: Uint8Array): StartAnalysis {
  const start = info.start;
  if (start === undefined) return { kind: 'none' };
  const imported = info.importedFunctionCount;
  const importName = (index: number, kind: 'function' | 'global') => {
    const entry = info.imports.find((i) => i.kind === kind && i.index === index);
    return entry ? `"${entry.module}"."${entry.name}"` : `${kind} ${index}`;
  };
  const importedGlobals = info.imports.filter((i) => i.kind === 'global').length;
  const impure = (reason: string): StartAnalysis => ({ kind: 'impure', function: start, reason });
  if (start < imported) return impure(`the start function is the import ${importName(start, 'function')}`);

  const seen = new Set<number>();
  const work = [start];
  while (work.length > 0) {
    const f = work.pop()!;
    if (seen.has(f)) continue;
    seen.add(f);
    const body = info.code[f - imported];
    if (body === undefined) continue;
    let problem: string | undefined;
    walkInstructions(bytes, body.instructions, ({ opcode, indices }) => {
      if (problem !== undefined) return;
      const first = indices[0] ?? 0;
      switch (opcode) {
        case Op.call:
        case Op.returnCall:
          if (first < imported) problem = `calls the import ${importName(first, 'function')}`;
          else if (!seen.has(first)) work.push(first);
          break;
        case Op.callIndirect:
        case Op.returnCallIndirect:
        case Op.callRef:
        case Op.returnCallRef:
          problem = 'makes an indirect call';
          break;
        case Op.globalGet:
          if (first < importedGlobals) problem = `reads the imported global ${importName(first, 'global')}`;
          break;
        case Op.globalSet:
          if (first < importedGlobals) problem = `writes the imported global ${importName(first, 'global')}`;
          else if (!NUMERIC.has(info.globals[first - importedGlobals]?.type ?? ''))
            problem = `writes global ${first}, which is not a number`;
          break;
        case Op.memoryGrow:
          problem = 'grows memory';
          break;
        case Op.tableSet:
        case Op.tableGrow:
        case Op.tableFill:
        case Op.tableCopy:
        case Op.tableInit:
          problem = 'changes a table';
          break;
        case Op.dataDrop:
        case Op.elemDrop:
          problem = 'drops a segment';
          break;
      }
    });
    if (problem !== undefined) {
      return impure(`the start function ${f === start ? '' : `(through function ${f}) `}${problem}`);
    }
  }
  return { kind: 'pure', function: start };
}
