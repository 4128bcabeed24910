// The contract, as a differential property test: after every use, a pooled instance and a
// brand-new instance of the same module agree on every memory byte, the memory size, every global,
// every table entry and the behaviour of memory.init/table.init on passive segments — for random
// modules, random uses (traps and growth included), both mechanisms and every reset strategy.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { InstancePool, GuestTrapError, type ResetStrategy } from '../src/index.ts';
import { pagemapSupport } from '../src/pagemap/index.ts';
import { moduleBytes, moduleSpec, observe, uses, OP, type ModuleSpec, type Op } from './support/random-module.ts';

const strategies: ResetStrategy[] = pagemapSupport().supported ? ['pagemap', 'madvise', 'copy'] : ['madvise', 'copy'];

function runOps(instance: WebAssembly.Instance, ops: Op[]): void {
  const op = instance.exports.op as (k: number, a: number, b: number) => void;
  for (const { kind, a, b } of ops) op(kind, a, b);
}

async function checkContract(spec: ModuleSpec, sequence: Op[][], strategy: ResetStrategy, keepResident: number) {
  const bytes = moduleBytes(spec);
  const module = new WebAssembly.Module(bytes);
  const fresh = () => observe(new WebAssembly.Instance(module), spec);
  const pool = await InstancePool.create(bytes, { strategy, keepResident, max: 2 });
  const context = `${pool.describe().mechanism}/${strategy}/keepResident=${keepResident}`;
  try {
    assert.deepEqual(await pool.run((instance) => observe(instance, spec)), fresh(), `${context}: first use`);
    for (const [i, ops] of sequence.entries()) {
      const traps = ops.some((o) => o.kind === OP.trap);
      const used = pool.run((instance) => runOps(instance, ops));
      if (traps) await assert.rejects(used, GuestTrapError);
      else await used;
      assert.deepEqual(
        await pool.run((instance) => observe(instance, spec)),
        fresh(),
        `${context}: after use ${i + 1}: ${JSON.stringify(ops)}`,
      );
    }
  } finally {
    await pool.close();
  }
}

for (const strategy of strategies) {
  test(`pooled instances equal fresh ones after any use (${strategy})`, async () => {
    await fc.assert(
      fc.asyncProperty(moduleSpec, uses, fc.constantFrom(0, 4096, 2 << 20), (spec, sequence, keepResident) =>
        checkContract(spec, sequence, strategy, keepResident),
      ),
      { numRuns: strategy === 'pagemap' ? 150 : 60 },
    );
  });
}

test('both mechanisms are exercised by the generator', async () => {
  const seen = new Set<string>();
  for (const spec of fc.sample(moduleSpec, { numRuns: 40, seed: 7 })) {
    const pool = await InstancePool.create(moduleBytes(spec), { min: 0 });
    seen.add(pool.describe().mechanism);
    await pool.close();
  }
  assert.deepEqual([...seen].sort(), ['reinstantiate', 'reuse']);
});
