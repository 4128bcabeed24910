// The system layer against the real kernel: addresses of V8 memories, mappings, memfd seals, and
// failures that come back as typed errors naming the call, the errno and what it means.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  addressOf,
  addSeals,
  close,
  getSeals,
  madviseDontNeed,
  memfdCreate,
  mmapAnonymous,
  mmapFixedPrivateFile,
  munmap,
  PAGE_SIZE,
  pwrite,
  ftruncate,
  Seal,
  viewAt,
  type Address,
} from '../src/sys/index.ts';
import { SyscallError } from '../src/errors.ts';

test('the address of a wasm memory is stable across grow', () => {
  const memory = new WebAssembly.Memory({ initial: 1, maximum: 4 });
  const before = addressOf(memory.buffer);
  assert.equal(before % BigInt(PAGE_SIZE), 0n);
  memory.grow(2);
  assert.equal(addressOf(memory.buffer), before);
});

test('a sealed memfd mapped copy-on-write: writes stay private, madvise brings the file back', () => {
  const fd = memfdCreate('cowpool-test');
  try {
    ftruncate(fd, 2 * PAGE_SIZE);
    pwrite(fd, new Uint8Array(2 * PAGE_SIZE).fill(7), 0);
    addSeals(fd, Seal.SHRINK | Seal.GROW | Seal.WRITE | Seal.SEAL);
    assert.equal(getSeals(fd) & Seal.WRITE, Seal.WRITE);
    assert.throws(
      () => pwrite(fd, new Uint8Array([1]), 0),
      (err: unknown) => {
        assert.ok(err instanceof SyscallError);
        assert.equal(err.syscall, 'pwrite');
        assert.equal(err.errno, 'EPERM');
        return true;
      },
    );
    const region = mmapAnonymous(4 * PAGE_SIZE);
    try {
      mmapFixedPrivateFile(region, 2 * PAGE_SIZE, fd, 0);
      const bytes = new Uint8Array(viewAt(region, 4 * PAGE_SIZE));
      assert.equal(bytes[0], 7);
      assert.equal(bytes[2 * PAGE_SIZE], 0, 'past the mapping: the anonymous zeros');
      bytes[0] = 9;
      assert.equal(bytes[0], 9);
      madviseDontNeed(region, 2 * PAGE_SIZE);
      assert.equal(bytes[0], 7, 'the private copy is dropped; the file shows through');
    } finally {
      munmap(region, 4 * PAGE_SIZE);
    }
  } finally {
    close(fd);
  }
});

test('failures are typed, with the errno and what it means here', () => {
  assert.throws(
    () => close(987654),
    (err: unknown) => {
      assert.ok(err instanceof SyscallError);
      assert.equal(err.code, 'COWPOOL_ERR_SYSCALL');
      assert.equal(err.errno, 'EBADF');
      assert.equal(err.errnoNumber, 9);
      return true;
    },
  );
  const region = mmapAnonymous(PAGE_SIZE);
  try {
    assert.throws(() => mmapFixedPrivateFile(region, PAGE_SIZE, 987654, 0), {
      message: 'mmap failed with EBADF: the image file descriptor is closed',
    });
  } finally {
    munmap(region, PAGE_SIZE);
  }
  assert.throws(() => madviseDontNeed(BigInt(PAGE_SIZE + 1) as Address, PAGE_SIZE), {
    code: 'COWPOOL_ERR_INVALID_ARGUMENT',
  });
  assert.throws(() => madviseDontNeed(BigInt(PAGE_SIZE) as Address, 100), /not a multiple of the \d+-byte page size/);
});
