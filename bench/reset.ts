/**
 * Reset strategies against fresh instantiation: per-request cost of bringing a memory back to its
 * image, for 1 MiB and 16 MiB memories over several dirty fractions, against
 * `new WebAssembly.Instance` of the same module (which also gets a pristine memory), plus the effect
 * of the sticky-set policy on a workload whose uses mostly write little but sometimes a lot.
 */
import { MemoryImage, MemorySlot, RESET_STRATEGIES, selfCheck } from '../src/memory/index.ts';
import { PAGE_SIZE } from '../src/sys/index.ts';
import { wat } from '../test/support/wat.ts';
import { measure, unavailable, type Measurement } from './measure.ts';

/** Data segments in the first page and past 256 KiB: an image span of 74 pages with zeros inside. */
export const DATA = `(data (i32.const 1024) "${'cowpool image '.repeat(64)}") (data (i32.const 300000) "tail")`;
/** `touch(n)`: writes the first word of pages 0 … n-1. */
export const TOUCH = `(func (export "touch") (param $pages i32) (local $i i32)
  (block $done (loop $next
    (br_if $done (i32.ge_u (local.get $i) (local.get $pages)))
    (i32.store (i32.mul (local.get $i) (i32.const ${PAGE_SIZE})) (local.get $i))
    (local.set $i (i32.add (local.get $i) (i32.const 1)))
    (br $next))))`;

function modules(pages: number) {
  const own = new WebAssembly.Module(wat(`(module (memory ${pages}) ${DATA} ${TOUCH})`));
  const imported = new WebAssembly.Module(wat(`(module (import "env" "memory" (memory ${pages})) ${TOUCH})`));
  const fresh = new WebAssembly.Instance(own);
  void fresh;
  const withData = new WebAssembly.Instance(new WebAssembly.Module(wat(`(module (memory (export "m") ${pages}) ${DATA})`)));
  const contents = new Uint8Array((withData.exports.m as WebAssembly.Memory).buffer).slice();
  return { own, imported, contents };
}

/** Runs the reset benchmark; `quick` shortens it. */
export function benchReset(quick: boolean): Measurement[] {
  const results: Measurement[] = [];
  const check = selfCheck().strategies;
  const options = quick ? { batches: 8, budgetMs: 800 } : {};
  for (const mib of [1, 16]) {
    const wasmPages = mib * 16;
    const { own, imported, contents } = modules(wasmPages);
    const totalPages = (mib << 20) / PAGE_SIZE;
    const dirtyCases = [2, Math.round(totalPages * 0.1), Math.round(totalPages * 0.5)];
    for (const dirty of quick ? [2] : dirtyCases) {
      const group = `reset ${mib} MiB, ${dirty} dirty pages`;
      const batch = dirty > 100 ? 20 : 200;
      results.push(
        measure(
          group,
          'new Instance',
          () => {
            const instance = new WebAssembly.Instance(own);
            (instance.exports.touch as (n: number) => void)(dirty);
          },
          { ...options, batch: mib === 16 ? Math.min(batch, 50) : batch },
        ),
      );
      const image = MemoryImage.fromContents(contents);
      for (const strategy of RESET_STRATEGIES) {
        const status = check[strategy];
        if (!status.ok) {
          results.push(unavailable(group, strategy, status.reason));
          continue;
        }
        const slot = MemorySlot.create(image, { strategy, keepResident: 64 << 20 });
        const touch = new WebAssembly.Instance(imported, { env: { memory: slot.memory } }).exports.touch as (n: number) => void;
        let last = { dirtyPages: 0, syscalls: 0 };
        const m = measure(
          group,
          strategy,
          () => {
            slot.lease();
            touch(dirty);
            last = slot.reset();
          },
          { ...options, batch: strategy === 'copy' && mib === 16 ? 20 : batch },
        );
        m.extra = { dirtyPagesSeen: last.dirtyPages, syscalls: last.syscalls };
        results.push(m);
        slot.close();
      }
      image.close();
    }
  }
  const group = 'sticky set: 16 MiB, 2 pages per use, 1024 every 50th';
  if (check.pagemap.ok) results.push(...stickyCase(group, quick));
  else results.push(unavailable(group, 'pagemap', check.pagemap.reason));
  return results;
}

/** 1 use in 50 writes 1024 pages of a 16 MiB memory; the others write 2. With and without the policy. */
function stickyCase(group: string, quick: boolean): Measurement[] {
  const { imported, contents } = modules(256);
  const image = MemoryImage.fromContents(contents);
  const out: Measurement[] = [];
  for (const decommitSticky of [true, false]) {
    const slot = MemorySlot.create(image, { strategy: 'pagemap', keepResident: 8 << 20, decommitSticky });
    const touch = new WebAssembly.Instance(imported, { env: { memory: slot.memory } }).exports.touch as (n: number) => void;
    let use = 0;
    let pages = 0;
    const m = measure(
      group,
      decommitSticky ? 'pagemap + sticky policy' : 'pagemap, no policy (Wasmtime)',
      () => {
        slot.lease();
        touch(++use % 50 === 0 ? 1024 : 2);
        pages += slot.reset().dirtyPages;
      },
      quick ? { batch: 100, batches: 5, budgetMs: 800 } : { batch: 100 },
    );
    m.extra = { meanDirtyPagesPerReset: Math.round(pages / use) };
    out.push(m);
    slot.close();
  }
  image.close();
  return out;
}
