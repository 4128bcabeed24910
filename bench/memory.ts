/**
 * What pooled memories cost in memory, and what the whole-memory image costs on first reads.
 *
 * - RSS of 1000 live instances of a 1 MiB module whose uses write 4 pages: fresh instances against
 *   pooled ones under each reset strategy (a `copy` reset that wrote every page would hold the whole
 *   memory resident per slot).
 * - First reads: reading every page of a 16 MiB memory once, on a fresh V8 memory (anonymous: the
 *   zero page, where the kernel has one) against a slot whose image memfd covers the whole memory
 *   (a read of a hole allocates a page-cache page once per image, shared by every later slot).
 */
import { readFileSync } from 'node:fs';
import { MemoryImage, MemorySlot, RESET_STRATEGIES, selfCheck, type ResetStrategy } from '../src/memory/index.ts';
import { PAGE_SIZE } from '../src/sys/index.ts';
import { wat } from '../test/support/wat.ts';
import { unavailable, type Measurement } from './measure.ts';

import { DATA, TOUCH } from './reset.ts';

const gc = (globalThis as { gc?: () => void }).gc ?? (() => {});
const rss = () => {
  gc();
  gc();
  return process.memoryUsage().rss;
};
/** Shared memory (tmpfs and memfd pages) of the whole machine, in bytes. */
const shmem = () => Number(/^Shmem:\s+(\d+) kB/m.exec(readFileSync('/proc/meminfo', 'utf8'))?.[1] ?? NaN) * 1024;

/** Runs the memory benchmarks; `quick` uses 100 instances instead of 1000. */
export function benchMemory(quick: boolean): Measurement[] {
  return [...residentSets(quick ? 100 : 1000), ...firstReads()];
}

function residentSets(count: number): Measurement[] {
  const group = `RSS of ${count} live instances, 1 MiB memory, 4 pages written per use`;
  const own = new WebAssembly.Module(wat(`(module (memory 16) ${DATA} ${TOUCH})`));
  const imported = new WebAssembly.Module(wat(`(module (import "env" "memory" (memory 16)) ${TOUCH})`));
  const withData = new WebAssembly.Instance(new WebAssembly.Module(wat(`(module (memory (export "m") 16) ${DATA})`)));
  const contents = new Uint8Array((withData.exports.m as WebAssembly.Memory).buffer).slice();
  const out: Measurement[] = [];

  const measureCase = (name: string, build: () => { keep: unknown[]; close: () => void }) => {
    const before = rss();
    const started = process.hrtime.bigint();
    const { keep, close } = build();
    const ns = Number(process.hrtime.bigint() - started) / count;
    const after = rss();
    out.push({
      group,
      name,
      nsPerOp: ns,
      minNsPerOp: ns,
      maxNsPerOp: ns,
      operations: count,
      extra: { rssKiBPerInstance: Math.round((after - before) / count / 1024), rssMiBTotal: Math.round((after - before) / 2 ** 20) },
    });
    close();
    keep.length = 0;
    rss();
  };

  measureCase('fresh instances', () => {
    const keep: WebAssembly.Instance[] = [];
    for (let i = 0; i < count; i++) {
      const instance = new WebAssembly.Instance(own);
      (instance.exports.touch as (n: number) => void)(4);
      keep.push(instance);
    }
    return { keep, close: () => {} };
  });
  const check = selfCheck().strategies;
  for (const strategy of RESET_STRATEGIES) {
    const status = check[strategy];
    if (!status.ok) {
      out.push(unavailable(group, `pooled, ${strategy}`, status.reason));
      continue;
    }
    measureCase(`pooled, ${strategy} reset`, () => pooled(strategy, contents, imported, count));
  }
  return out;
}

function pooled(strategy: ResetStrategy, contents: Uint8Array, imported: WebAssembly.Module, count: number) {
  const image = MemoryImage.fromContents(contents);
  const keep: { slot: MemorySlot; instance: WebAssembly.Instance }[] = [];
  for (let i = 0; i < count; i++) {
    const slot = MemorySlot.create(image, { strategy });
    const instance = new WebAssembly.Instance(imported, { env: { memory: slot.memory } });
    slot.lease();
    (instance.exports.touch as (n: number) => void)(4);
    slot.reset();
    keep.push({ slot, instance });
  }
  return {
    keep,
    close: () => {
      for (const { slot } of keep) slot.close();
      image.close();
    },
  };
}

function firstReads(): Measurement[] {
  const group = 'first read of every page, 16 MiB memory';
  const bytes = 16 << 20;
  const pages = bytes / PAGE_SIZE;
  const readAll = (memory: WebAssembly.Memory) => {
    const view = new Uint8Array(memory.buffer);
    let sum = 0;
    const started = process.hrtime.bigint();
    for (let at = 0; at < bytes; at += PAGE_SIZE) sum += view[at]!;
    const ns = Number(process.hrtime.bigint() - started) / pages;
    if (sum !== 0) throw new Error('expected zeros');
    return ns;
  };
  const row = (name: string, ns: number, extra: Record<string, number | string> = {}): Measurement => ({
    group,
    name,
    nsPerOp: ns,
    minNsPerOp: ns,
    maxNsPerOp: ns,
    operations: pages,
    extra,
  });
  const out = [row('fresh V8 memory (anonymous)', readAll(new WebAssembly.Memory({ initial: 256 })))];
  const check = selfCheck().strategies;
  if (!check.madvise.ok) return [...out, unavailable(group, 'pooled slot', check.madvise.reason)];
  const image = MemoryImage.create({ start: 0, bytes: new Uint8Array(0) }, bytes);
  const shmemBefore = shmem();
  const first = MemorySlot.create(image, { strategy: 'madvise' });
  const firstNs = readAll(first.memory);
  const pageCache = shmem() - shmemBefore;
  out.push(row('pooled slot, first of its image', firstNs, { pageCacheKiBAllocated: Math.round(pageCache / 1024) }));
  const second = MemorySlot.create(image, { strategy: 'madvise' });
  const secondNs = readAll(second.memory);
  out.push(
    row('pooled slot, image already read', secondNs, { pageCacheKiBAllocated: Math.round((shmem() - shmemBefore - pageCache) / 1024) }),
  );
  first.close();
  second.close();
  image.close();
  return out;
}
