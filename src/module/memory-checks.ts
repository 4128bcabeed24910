/**
 * Why a module's memories keep it from being pooled. Shared by the analysis (which reports every
 * reason) and by the image and rewrite steps (which refuse with the same words).
 */

import type { MemoryType } from './types.js';

/** The reason a module with `count` memories cannot be pooled, or undefined if `count` is fine. */
export function memoryCountProblem(count: number): string | undefined {
  return count > 1 ? `the module has ${count} memories (multi-memory); cowpool pools modules with at most one` : undefined;
}

/** Why memory 0 of this type cannot back a pooled slot; empty when it can. */
export function memoryTypeProblems(mem: MemoryType): string[] {
  const problems: string[] = [];
  if (mem.memory64) problems.push('memory 0 is a 64-bit memory (memory64)');
  if (mem.shared) problems.push('memory 0 is shared (threads); a shared memory cannot be reset under running threads');
  if (mem.pageSizeLog2 !== undefined && mem.pageSizeLog2 !== 16) {
    problems.push(`memory 0 uses ${2 ** mem.pageSizeLog2}-byte pages (custom-page-sizes); cowpool needs 64 KiB pages`);
  }
  return problems;
}
