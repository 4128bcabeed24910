// cowpool/pagemap on its own: which pages of a WebAssembly memory did this code write?
// Run it with `node examples/pagemap.mjs` after `npm install`.
import { Category, PageMap, kernelBehaviour, pagemapSupport } from 'cowpool/pagemap';

const support = pagemapSupport();
if (!support.supported) {
  console.log(`PAGEMAP_SCAN is not available here: ${support.reason}`);
  process.exit(0);
}

const memory = new WebAssembly.Memory({ initial: 4 }); // 256 KiB = 64 pages of 4 KiB
const bytes = new Uint8Array(memory.buffer);
bytes[5 * 4096] = 1; // write page 5
bytes[6 * 4096 + 100] = 2; // and page 6
bytes[40 * 4096] = 3; // and page 40
// A read maps the shared zero page, which is not a write… on kernels that have one. Some do not
// (pvm_no_zero_page=1, s390 KVM guests): there a read makes a private page, found below too. That is
// why cowpool maps a memfd over its pooled memories: a read of a file page stays shared everywhere.
console.log(bytes[20 * 4096]);
console.log(`this kernel: ${kernelBehaviour().description}`);

const pagemap = PageMap.open();
const { regions, stop } = pagemap.scan(memory.buffer, {
  // written = a private page: not the zero page (PFNZERO), not a file page (FILE)…
  categoryInverted: Category.PFNZERO | Category.FILE,
  categoryMask: Category.PFNZERO | Category.FILE,
  // …whose contents exist, in RAM or in swap.
  categoryAnyOf: Category.PRESENT | Category.SWAPPED,
  returnMask: 0, // report no categories, so adjacent pages merge into runs
});
for (const { start, end } of regions) console.log(`written: pages ${start / 4096} to ${end / 4096 - 1}`);
console.log(`scan ${stop}`);
