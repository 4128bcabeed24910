/**
 * The startup self-check: does mapping an image over a V8 wasm memory, writing it, scanning it and
 * resetting it behave on this V8 and kernel as cowpool assumes? Run once per process; when it fails,
 * `auto` falls back to the `copy` reset, which assumes nothing about V8's mapping.
 */
import { PAGE_SIZE } from '../sys/index.js';
import { pagemapSupport } from '../pagemap/index.js';
import { MemoryImage } from './image.js';
import { MemorySlot, type ResetStrategy } from './slot.js';

let result: { ok: true } | { ok: false; reason: string } | undefined;

/** Runs the check once per process and returns its cached outcome. */
export function selfCheck(): { ok: true } | { ok: false; reason: string } {
  result ??= run();
  return result;
}

function run(): { ok: true } | { ok: false; reason: string } {
  try {
    const strategies: ResetStrategy[] = pagemapSupport().supported ? ['madvise', 'pagemap'] : ['madvise'];
    for (const strategy of strategies) {
      const problem = check(strategy);
      if (problem) return { ok: false, reason: `${strategy}: ${problem}` };
    }
    return { ok: true };
  } catch (err) {
    return { ok: false, reason: err instanceof Error ? err.message : String(err) };
  }
}

/** One slot of 64 KiB with a 3-page image at page 3; writes inside, outside and across it. */
function check(strategy: ResetStrategy): string | undefined {
  const pattern = new Uint8Array(3 * PAGE_SIZE).map((_, i) => 1 + (i % 251));
  const image = MemoryImage.create({ start: 3 * PAGE_SIZE, bytes: pattern }, 65536, { name: 'cowpool-self-check' });
  const slot = MemorySlot.create(image, { strategy });
  try {
    const expected = new Uint8Array(65536);
    expected.set(pattern, 3 * PAGE_SIZE);
    if (!equal(new Uint8Array(slot.memory.buffer), expected)) return 'the mapped image does not read back';
    for (let round = 0; round < 2; round++) {
      slot.lease();
      const view = new Uint8Array(slot.memory.buffer);
      for (const page of [0, 2, 3, 5, 6, 15]) view.fill(0xee, page * PAGE_SIZE + 7, page * PAGE_SIZE + 99);
      const report = slot.reset();
      if (!equal(new Uint8Array(slot.memory.buffer), expected)) return `bytes differ from the image after reset ${round + 1}`;
      if (strategy === 'pagemap' && round === 0 && report.dirtyPages !== 6) {
        return `the scan found ${report.dirtyPages} dirty pages where 6 were written`;
      }
    }
    return undefined;
  } finally {
    slot.close();
  }
}

function equal(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
