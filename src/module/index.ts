/**
 * The module layer: read a WebAssembly binary, analyze what a use can change, evaluate memory 0's
 * initial image, and rewrite the module for pooling. Pure TypeScript, no dependencies.
 */

export { readModule, sectionName, SectionId } from './reader.js';
export { analyzeModule } from './analysis.js';
export { analyzeStart, type StartAnalysis } from './start-analysis.js';
export type { GlobalAnalysis, MemoryAnalysis, ModuleAnalysis, Poolability, TableAnalysis } from './analysis.js';
export { evaluateDataImage, renderImage, IMAGE_ALIGNMENT } from './image.js';
export { WASM_PAGE_SIZE, bytesToPages, pagesToBytes } from './wasm-page.js';
export type { DataImage, ImageSegment, ImportedGlobalValue, RenderedImage } from './image.js';
export { keepOnlyExports, rewriteModule } from './rewrite.js';
export { virtualizeMemorySize, type VirtualizedMemory } from './virtual-memory.js';
export type { RewritePlan } from './rewrite.js';
export { instrumentFuel } from './fuel.js';
export type { FuelInstrumentation } from './fuel.js';
export { walkInstructions } from './instructions.js';
export type { Instruction, InstructionVisitor } from './instructions.js';
export { Op } from './opcodes.js';
export { evaluateConstExpr } from './const-expr.js';
export type { ByteRange } from './bytes.js';
export { isGcRefType, isNumType, isRefType } from './valtypes.js';
export type * from './types.js';
