// Swapped-out dirty pages, proven on the real kernel: a secret written into a pooled memory and
// pushed out to swap must be found by the reset's scan (SWAPPED) and never reach the next use.
// Wasmtime's scan requires PRESENT and misses exactly this page (its PR #14357): a security
// property, so the test makes a temporary swap file where it may (root, swapon permitted) and
// skips with the reason where it cannot.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync, chmodSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { MemoryImage, MemorySlot } from '../src/memory/index.ts';
import { Category, PageMap, pagemapSupport } from '../src/pagemap/index.ts';
import { addressOf, madvisePageOut, offsetAddress, PAGE_SIZE } from '../src/sys/index.ts';

const P = PAGE_SIZE;

/** Turns on a temporary swap file, or says why it cannot. */
function temporarySwap(): { off: () => void } | string {
  if (!pagemapSupport().supported) return `PAGEMAP_SCAN unavailable: ${pagemapSupport().reason}`;
  if (process.getuid?.() !== 0) return 'swapon needs root';
  // /var/tmp is on disk where /tmp may be tmpfs, which cannot hold a swap file.
  let dir: string;
  try {
    dir = mkdtempSync(join('/var/tmp', 'cowpool-swap-'));
  } catch {
    dir = mkdtempSync(join(tmpdir(), 'cowpool-swap-'));
  }
  const file = join(dir, 'swapfile');
  try {
    writeFileSync(file, Buffer.alloc(32 << 20));
    chmodSync(file, 0o600);
    execFileSync('mkswap', [file], { stdio: 'pipe' });
    execFileSync('swapon', [file], { stdio: 'pipe' });
  } catch (err) {
    rmSync(dir, { recursive: true, force: true });
    const stderr = (err as { stderr?: Buffer }).stderr?.toString().trim();
    return `cannot turn on a swap file here: ${stderr || (err as Error).message}`;
  }
  return {
    off: () => {
      try {
        execFileSync('swapoff', [file], { stdio: 'pipe' });
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    },
  };
}

test('a secret in a dirty page that was swapped out is found (SWAPPED) and gone in the next use', (t) => {
  const swap = temporarySwap();
  if (typeof swap === 'string') {
    t.skip(swap);
    return;
  }
  t.after(() => swap.off());
  assert.match(readFileSync('/proc/swaps', 'utf8'), /cowpool-swap-/);

  const image = MemoryImage.create({ start: 2 * P, bytes: new Uint8Array(2 * P).fill(7) }, 4 * 65536);
  const slot = MemorySlot.create(image, { strategy: 'pagemap' });
  t.after(() => {
    slot.close();
    image.close();
  });
  const secret = Buffer.from("the previous tenant's password");
  const pages = [3, 9]; // one inside the image's span, one outside it
  slot.lease();
  const view = new Uint8Array(slot.memory.buffer);
  for (const page of pages) view.set(secret, page * P + 100);

  // SAFETY: the pages lie inside the slot's memory; their contents are kept through swap.
  const base = addressOf(slot.memory.buffer);
  const pm = PageMap.open();
  const categoriesOf = (page: number) =>
    pm.scan({ address: offsetAddress(base, page * P), length: P }, { returnMask: Category.PRESENT | Category.SWAPPED }).regions[0]
      ?.categories ?? 0;
  for (let attempt = 0; attempt < 5 && pages.some((p) => categoriesOf(p) !== Category.SWAPPED); attempt++) {
    for (const page of pages) madvisePageOut(offsetAddress(base, page * P), P);
  }
  const notSwapped = pages.filter((p) => categoriesOf(p) !== Category.SWAPPED);
  if (notSwapped.length > 0) {
    t.skip(`the kernel did not page out page(s) ${notSwapped.join(', ')} (MADV_PAGEOUT is advice)`);
    slot.reset();
    return;
  }
  // Wasmtime's predicate needs PRESENT: it would not see these pages at all.
  const presentOnly = pm.scan(slot.memory.buffer, { categoryMask: Category.PRESENT, categoryInverted: 0, returnMask: 0 });
  for (const page of pages) {
    assert.ok(!presentOnly.regions.some((r) => r.start <= page * P && page * P < r.end), `page ${page} is not PRESENT`);
  }

  const report = slot.reset();
  assert.ok(report.dirtyPages >= pages.length, `the reset found ${report.dirtyPages} dirty pages`);
  slot.lease();
  const after = Buffer.from(slot.memory.buffer);
  assert.equal(after.indexOf(secret), -1, 'the secret is gone');
  const expected = Buffer.alloc(4 * 65536);
  expected.fill(7, 2 * P, 4 * P);
  assert.ok(after.equals(expected), 'the memory equals the image');
  slot.reset();
});
