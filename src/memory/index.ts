/** Copy-on-write memory images and the pooled memories that reset to them. */
export { MemoryImage, nonZeroSpan, type MemoryImageOptions } from './image.js';
export {
  MemorySlot,
  chooseStrategy,
  COPY_THRESHOLD,
  DEFAULT_KEEP_RESIDENT,
  type MemorySlotOptions,
  type ResetReport,
  type ResetStrategy,
} from './slot.js';
export { selfCheck } from './self-check.js';
export { parseStrategy, RESET_STRATEGIES } from './strategy.js';
