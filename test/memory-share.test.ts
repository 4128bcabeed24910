/**
 * One image per process: a MemoryImage shared with worker threads (share/adopt) serves real slots
 * in real workers, the adopters never close the memfd, and the fd ledger closes what a terminated
 * worker held. Real memfds, real workers, the kernel's own fd table and maps.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { closeSync, fstatSync, openSync, readdirSync, readFileSync, readlinkSync } from 'node:fs';
import type { Worker } from 'node:worker_threads';
import { MemoryImage, type ResetStrategy } from '../src/memory/index.ts';
import { pagemapSupport, sharePagemap } from '../src/pagemap/support.ts';
import { FdLedger, fileSize, nativeSupport, PAGE_SIZE } from '../src/sys/index.ts';
import { InvalidArgumentError } from '../src/errors.ts';
import { spawnWorker } from '../src/threads/spawn.ts';
import { openMemfds } from './support/fds.ts';
import type { ImageWorkerData, ImageWorkerReport } from './fixtures/threads/image-worker.ts';

const native = nativeSupport();
const nativeSkip = native.available ? false : `no native access: ${native.reason}`;
const strategies: ResetStrategy[] = pagemapSupport().supported ? ['pagemap', 'madvise', 'copy'] : ['madvise', 'copy'];
const WORKER = new URL('./fixtures/threads/image-worker.ts', import.meta.url);

/** An image with data in pages 2–4 of an 8-page (two wasm pages at 4 KiB pages) memory. */
function testImage(name: string): MemoryImage {
  const contents = new Uint8Array(2 * 65536);
  for (let i = 2 * PAGE_SIZE; i < 5 * PAGE_SIZE; i++) contents[i] = (i * 7) % 251 || 1;
  return MemoryImage.fromContents(contents, { name });
}

function mappings(name: string): number {
  return readFileSync('/proc/self/maps', 'utf8')
    .split('\n')
    .filter((line) => line.includes(`/memfd:${name}`)).length;
}

/** Descriptors of this process open on a pagemap file. */
function pagemapFds(): number {
  let count = 0;
  for (const fd of readdirSync('/proc/self/fd')) {
    try {
      if (readlinkSync(`/proc/self/fd/${fd}`).endsWith('/pagemap')) count++;
    } catch {
      // closed between readdir and readlink (the directory's own fd, say)
    }
  }
  return count;
}

function start(data: ImageWorkerData): Worker {
  return spawnWorker(WORKER, { workerData: data });
}

test('a shared image holds one copy of its bytes, and its descriptor survives structured clone', { skip: nativeSkip }, () => {
  const image = testImage('cowpool-share-clone');
  const shared = image.share();
  assert.ok(shared.bytes.buffer instanceof SharedArrayBuffer);
  assert.equal(shared.bytes, image.bytes, 'share() hands out the image bytes themselves, not a copy');
  const cloned = structuredClone(shared);
  assert.ok(cloned.bytes.buffer instanceof SharedArrayBuffer);
  cloned.bytes[0] = 0; // the span's first byte is already 0 here; reading through both shows one memory
  assert.equal(cloned.bytes.buffer.byteLength, image.bytes.buffer.byteLength);
  const adopted = MemoryImage.adopt(cloned);
  assert.equal(adopted.adopted, true);
  assert.equal(image.adopted, false);
  assert.equal(adopted.fd, image.fd);
  adopted.close();
  assert.equal(adopted.closed, true);
  assert.equal(fileSize(image.fd!), image.minimumBytes, "closing an adopted image leaves the owner's memfd open");
  image.close();
  assert.equal(openMemfds('cowpool-share-clone'), 0);
});

test('a shared image keeps only its data: the runs are in its descriptor, zero pages are holes everywhere', { skip: nativeSkip }, () => {
  // Data in page 2 and page 10, zeros between: one span, two runs.
  const contents = new Uint8Array(2 * 65536);
  contents.fill(7, 2 * PAGE_SIZE, 3 * PAGE_SIZE);
  contents.fill(9, 10 * PAGE_SIZE, 11 * PAGE_SIZE);
  const image = MemoryImage.fromContents(contents, { name: 'cowpool-share-runs' });
  const shared = image.share();
  assert.deepEqual(shared.runs, [
    { start: 0, end: PAGE_SIZE },
    { start: 8 * PAGE_SIZE, end: 9 * PAGE_SIZE },
  ]);
  assert.equal(fstatSync(image.fd!).blocks * 512, 2 * PAGE_SIZE, 'the memfd holds the two data pages; the rest are holes');
  const adopted = MemoryImage.adopt(structuredClone(shared));
  // A thread that learns a larger size makes an image of its own from the adopted one: the runs carry over.
  const larger = adopted.withMinimum(4 * 65536);
  assert.equal(larger.adopted, false);
  assert.deepEqual(larger.share().runs, shared.runs);
  assert.equal(fstatSync(larger.fd!).blocks * 512, 2 * PAGE_SIZE);
  assert.deepEqual(larger.bytes, image.bytes);
  larger.close();
  adopted.close();
  for (const runs of [[{ start: PAGE_SIZE, end: 0 }], [{ start: 0, end: shared.bytes.length + 1 }], 'all']) {
    assert.throws(() => MemoryImage.adopt({ ...shared, runs: runs as never }), /data runs/);
  }
  image.close();
  assert.equal(openMemfds('cowpool-share-runs'), 0);
});

test('adopt refuses a descriptor that is not an open sealed memfd of the image', { skip: nativeSkip }, () => {
  const image = testImage('cowpool-share-refuse');
  const shared = image.share();
  const devNull = openSync('/dev/null', 'r');
  try {
    assert.throws(() => MemoryImage.adopt({ ...shared, fd: devNull }), InvalidArgumentError);
    assert.throws(() => MemoryImage.adopt({ ...shared, minimumBytes: shared.minimumBytes * 2 }), /not its image's sealed memfd/);
    assert.throws(() => MemoryImage.adopt({ ...shared, bytes: new Uint8Array(shared.bytes) }), /SharedArrayBuffer/);
    assert.throws(() => MemoryImage.adopt({ ...shared, start: 1 }), /not page-aligned/);
  } finally {
    closeSync(devNull);
  }
  image.close();
  assert.throws(() => image.share(), /closed/);
  assert.throws(() => MemoryImage.adopt(shared), /not an open memfd in this process/);
});

test(
  'slots in a worker over the adopted image reset to it with every strategy; the owner closes the memfd after',
  { skip: nativeSkip },
  async () => {
    const name = 'cowpool-share-worker';
    const image = testImage(name);
    const pagemap = sharePagemap(); // opens the process's descriptor first, if it was not yet
    const pagemapBefore = pagemapFds();
    const ledger = FdLedger.create();
    const worker = start({ image: image.share(), pagemap, ledger: ledger.buffer, strategies, hold: false });
    const [report] = (await once(worker, 'message')) as [ImageWorkerReport];
    await once(worker, 'exit');
    for (const strategy of strategies) assert.equal(report.mismatches[strategy], -1, `${strategy}: memory equals the image after reset`);
    assert.deepEqual(ledger.held(), [], 'the worker holds no descriptor of its own');
    assert.equal(pagemapFds(), pagemapBefore, "the worker scanned with the main thread's pagemap descriptor");
    assert.equal(openMemfds(name), 1, 'the memfd is still open: the owner has not closed it');
    image.close();
    assert.equal(openMemfds(name), 0);
  },
);

test('a worker terminated mid-use leaks nothing: the ledger closes its own memfd, V8 unmaps its slots', { skip: nativeSkip }, async () => {
  const name = 'cowpool-share-terminate';
  const image = testImage(name);
  const ownBefore = openMemfds('cowpool-worker-own');
  const ledger = FdLedger.create();
  const worker = start({ image: image.share(), pagemap: sharePagemap(), ledger: ledger.buffer, strategies, hold: true });
  const [report] = (await once(worker, 'message')) as [ImageWorkerReport];
  assert.ok(mappings(name) > 0, 'the leased slot maps the image');
  assert.deepEqual(ledger.held(), [report.ownFd], 'the ledger lists the memfd the worker made');
  assert.equal(openMemfds('cowpool-worker-own'), ownBefore + 1);
  await worker.terminate();
  assert.equal(ledger.closeAll(), 1);
  assert.equal(openMemfds('cowpool-worker-own'), ownBefore, 'no memfd of the worker is left');
  // V8 frees a terminated worker's memories with its isolate; the image mapping goes with them.
  for (let i = 0; i < 100 && mappings(name) > 0; i++) await new Promise((r) => setTimeout(r, 10));
  assert.equal(mappings(name), 0, 'no mapping of the image remains');
  image.close();
  assert.equal(openMemfds(name), 0);
});

test('the fd ledger records, forgets, counts overflow and closes what is left', () => {
  const ledger = FdLedger.create(2);
  const a = openSync('/dev/null', 'r');
  const b = openSync('/dev/null', 'r');
  const c = openSync('/dev/null', 'r');
  ledger.record(a);
  ledger.record(b);
  ledger.record(c);
  assert.deepEqual(ledger.held(), [a, b]);
  assert.equal(ledger.overflowed, 1, 'the third found no slot');
  ledger.forget(a);
  ledger.record(c);
  assert.deepEqual(new Set(ledger.held()), new Set([b, c]));
  const attached = FdLedger.attach(ledger.buffer);
  assert.deepEqual(new Set(attached.held()), new Set([b, c]), 'another thread sees the same ledger');
  closeSync(a);
  assert.equal(attached.closeAll(), 2);
  assert.deepEqual(ledger.held(), []);
  assert.throws(() => closeSync(b), /EBADF/);
  assert.throws(() => FdLedger.attach(new SharedArrayBuffer(2)), InvalidArgumentError);
});
