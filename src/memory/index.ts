/** Copy-on-write memory images and the pooled memories that reset to them. */
export { MemoryImage, nonZeroSpan, type MemoryImageOptions, type SharedMemoryImage } from './image.js';
export { MemorySlot, DIRTY_PAGES, DEFAULT_KEEP_RESIDENT, type MemorySlotOptions, type ResetReport } from './slot.js';
export { parseStrategy, RESET_STRATEGIES, type ResetStrategy } from './reset-strategy.js';
export { chooseStrategy, resolveStrategy, COPY_THRESHOLD, type StrategyChoice } from './auto-strategy.js';
export { selfCheck, checkStrategy, type SelfCheckReport, type StrategyCheck } from './self-check.js';
