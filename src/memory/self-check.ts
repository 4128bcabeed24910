/**
 * The startup self-check: does each reset strategy keep cowpool's contract on this V8 and kernel?
 * Each strategy is checked on its own, at most once per process, so that `auto` can take the best
 * one that passed (see `auto-strategy.ts`) and say why the better ones did not.
 *
 * The contract checked, over two uses of one slot:
 * - the memory reads back exactly the image before the first use and after every reset;
 * - `pagemap`: every page written is found by the dirty-page scan (finding more is safe, and happens:
 *   pages restored in place stay private), and a page only read is not.
 * It also records which kernel behaviours it saw (zero page, WRITTEN semantics), for the reports.
 */
import { kernelBehaviour, PageMap, type KernelBehaviour } from '../pagemap/index.js';
import { PAGE_SIZE } from '../sys/index.js';
import { WASM_PAGE_SIZE } from '../module/wasm-page.js';
import { MemoryImage } from './image.js';
import { DIRTY_PAGES, MemorySlot } from './slot.js';
import { RESET_STRATEGIES, type ResetStrategy } from './reset-strategy.js';

/** Whether one strategy kept the contract, and if not, what went wrong. */
export type StrategyCheck = { ok: true } | { ok: false; reason: string };

/** The outcome of {@link selfCheck}. */
export interface SelfCheckReport {
  /** Each strategy's own check. */
  strategies: Record<ResetStrategy, StrategyCheck>;
  /** The kernel behaviours seen on the way. */
  kernel: KernelBehaviour;
}

const checked = new Map<ResetStrategy, StrategyCheck>();

/**
 * One strategy's check, run the first time this process asks for it. `auto` asks only as far as
 * it needs (pagemap's alone where it passes: about 2 ms of a warm start saved by not checking the
 * others); a strategy a user names is not checked (`requireStrategy` says whether it can work).
 */
export function checkedStrategy(strategy: ResetStrategy): StrategyCheck {
  let check = checked.get(strategy);
  if (check === undefined) {
    check = checkStrategy(strategy);
    checked.set(strategy, check);
  }
  return check;
}

/** Every strategy's check (each run once per process) and the kernel's behaviours: for reports. */
export function selfCheck(): SelfCheckReport {
  const strategies = {} as Record<ResetStrategy, StrategyCheck>;
  for (const strategy of RESET_STRATEGIES) strategies[strategy] = checkedStrategy(strategy);
  return { strategies, kernel: kernelBehaviour() };
}

/**
 * The check's memory: 16 host pages, at least 4 wasm pages (256 KiB, 64 pages where pages are 4 KiB).
 * Four wasm pages alone would be only 4 host pages on a kernel with 64 KiB pages, too few for the
 * image span and the pages the uses below touch.
 */
const MEMORY_BYTES = Math.max(4 * WASM_PAGE_SIZE, 16 * PAGE_SIZE);
const IMAGE_PAGES = { first: 3, count: 3 };

/** Runs the two-use check of one strategy on a fresh slot; never throws. */
export function checkStrategy(strategy: ResetStrategy): StrategyCheck {
  const last = MEMORY_BYTES / PAGE_SIZE - 1;
  // Pages written and pages only read in each use: inside, across and outside the image's span,
  // and in the second use pages that the first only read.
  const uses = [
    { written: [0, 2, 3, 5, 6, last], read: [1, 4, 7, last - 1] },
    { written: [1, 4, 8], read: [7, last - 1] },
  ];
  let slot: MemorySlot | undefined;
  let image: MemoryImage | undefined;
  try {
    const pattern = new Uint8Array(IMAGE_PAGES.count * PAGE_SIZE).map((_, i) => 1 + (i % 251));
    image = MemoryImage.create({ start: IMAGE_PAGES.first * PAGE_SIZE, bytes: pattern }, MEMORY_BYTES, { name: 'cowpool-self-check' });
    slot = MemorySlot.create(image, { strategy });
    const expected = new Uint8Array(MEMORY_BYTES);
    expected.set(pattern, IMAGE_PAGES.first * PAGE_SIZE);
    if (!equal(new Uint8Array(slot.memory.buffer), expected)) return fail('the mapped image does not read back');
    for (const [n, use] of uses.entries()) {
      slot.lease();
      const view = new Uint8Array(slot.memory.buffer);
      let sink = 0;
      for (const page of use.read) sink += view[page * PAGE_SIZE + 11]!;
      for (const page of use.written) view.fill(0xee + (sink & 0), page * PAGE_SIZE + 7, page * PAGE_SIZE + 99);
      if (strategy === 'pagemap') {
        const problem = checkScan(slot, use);
        if (problem) return fail(`use ${n + 1}: ${problem}`);
      }
      slot.reset();
      if (!equal(new Uint8Array(slot.memory.buffer), expected)) return fail(`bytes differ from the image after reset ${n + 1}`);
    }
    return { ok: true };
  } catch (err) {
    return fail(err instanceof Error ? err.message : String(err));
  } finally {
    slot?.close();
    image?.close();
  }
}

/** Scans the slot as its reset will; returns what is wrong with the pages found, if anything. */
function checkScan(slot: MemorySlot, use: { written: number[]; read: number[] }): string | undefined {
  const { regions } = PageMap.open().scan(slot.memory.buffer, { ...DIRTY_PAGES, maxPages: 0 });
  const found = (page: number) => regions.some((r) => r.start <= page * PAGE_SIZE && page * PAGE_SIZE < r.end);
  const missed = use.written.filter((page) => !found(page));
  if (missed.length > 0) return `the scan missed written page(s) ${missed.join(', ')}`;
  const readFound = use.read.filter(found);
  if (readFound.length > 0) return `the scan reported page(s) ${readFound.join(', ')}, which were only read`;
  return undefined;
}

function fail(reason: string): StrategyCheck {
  return { ok: false, reason };
}

function equal(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && Buffer.from(a.buffer, a.byteOffset, a.length).equals(b);
}
