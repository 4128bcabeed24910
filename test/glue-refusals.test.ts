// What GluePool cannot make pristine, it refuses with a typed error that says why; and the parts of
// the recipe that small hand-written glues exercise (a memory the glue creates, imports it forgets).
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GluePool, ImportMissingError, ModuleNotPoolableError } from '../src/glue/index.ts';
import { GuestTrapError, InvalidArgumentError } from '../src/index.ts';
import { packageFile } from './support/glue.ts';
import { wat } from './support/wat.ts';

/** Writes a glue file and returns its path; the directory is removed after the test. */
function glueFile(t: { after(fn: () => void): void }, source: string, name = 'glue.js'): string {
  const dir = mkdtempSync(join(tmpdir(), 'cowpool-glue-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const path = join(dir, name);
  writeFileSync(path, source);
  return path;
}

// A counter kept in the glue (JS) and one kept in memory, both bumped by every call.
const counterModule = wat(`(module
  (import "env" "note" (func $note (param i32)))
  (memory (export "memory") 1)
  (func (export "bump") (result i32)
    (i32.store (i32.const 16) (i32.add (i32.load (i32.const 16)) (i32.const 1)))
    (call $note (i32.load (i32.const 16)))
    (i32.load (i32.const 16)))
  (func (export "trap") (i32.store (i32.const 16) (i32.const 99)) unreachable))`);

const counterGlue = `
let notes = 0;
let exportsOf;
module.exports.init = (bytes) => {
  const instance = new WebAssembly.Instance(new WebAssembly.Module(bytes), { env: { note: () => { notes++; } } });
  exportsOf = instance.exports;
};
module.exports.bump = () => [exportsOf.bump(), ++notes];
module.exports.trap = () => exportsOf.trap();
`;

/** The counter glue, pooled one instance deep, its `init` instantiating the module. */
function counterPool(t: TestContext) {
  return GluePool.create<{ bump(): [number, number]; trap(): void }>({
    glue: glueFile(t, counterGlue),
    wasm: counterModule,
    load: (glue, kit) => {
      glue.init(kit.bytes);
      return glue;
    },
    pool: { max: 1 },
  });
}

test('glue state and memory state both start fresh each use', async (t) => {
  const pool = await counterPool(t);
  try {
    for (let i = 0; i < 5; i++)
      assert.deepEqual(await pool.run((api) => [api.bump(), api.bump()]), [
        [1, 2],
        [2, 4],
      ]);
  } finally {
    await pool.close();
  }
});

test('a use that traps rejects with GuestTrapError and the next is pristine', async (t) => {
  const pool = await counterPool(t);
  try {
    await assert.rejects(
      pool.run((api) => (api.bump(), api.trap())),
      GuestTrapError,
    );
    assert.deepEqual(await pool.run((api) => api.bump()), [1, 2]);
  } finally {
    await pool.close();
  }
});

test('a memory the glue creates for a module that imports one is the pooled memory', async (t) => {
  const module = wat(`(module
    (import "env" "memory" (memory 1))
    (func (export "bump") (result i32)
      (i32.store (i32.const 16) (i32.add (i32.load (i32.const 16)) (i32.const 1)))
      (i32.load (i32.const 16))))`);
  const glue = `
  const memory = new WebAssembly.Memory({ initial: 1 });
  module.exports.init = async (bytes) => {
    const { instance } = await WebAssembly.instantiate(bytes, { env: { memory } });
    return { bump: () => instance.exports.bump(), peek: () => new Int32Array(memory.buffer)[4] };
  };`;
  const pool = await GluePool.create<{ bump(): number; peek(): number }>({
    glue: glueFile(t, glue),
    wasm: module,
    load: (g, kit) => g.init(kit.bytes),
    pool: { max: 1 },
  });
  try {
    for (let i = 0; i < 3; i++) assert.deepEqual(await pool.run((api) => [api.bump(), api.bump(), api.peek()]), [1, 2, 2]);
  } finally {
    await pool.close();
  }
});

test('a table the glue can grow from JS is fresh every use (reinstantiate), and reuse is refused for it', async (t) => {
  const module = wat(`(module
    (table (export "table") 2 funcref)
    (func $f (export "f") (result i32) (i32.const 7))
    (elem (i32.const 0) $f))`);
  // Like emscripten's addFunction: grow the table and put a function in the new slot.
  const glue = `
  module.exports.init = (bytes) => {
    const { table, f } = new WebAssembly.Instance(new WebAssembly.Module(bytes), {}).exports;
    return { add: () => { const at = table.grow(1); table.set(at, f); return table.length; } };
  };`;
  const path = glueFile(t, glue);
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  const load = (g: { init(bytes: Uint8Array): any }, kit: { bytes: Uint8Array }) => g.init(kit.bytes);
  const pool = await GluePool.create<{ add(): number }>({ glue: path, wasm: module, load, pool: { max: 1 } });
  try {
    assert.equal(pool.describe().mechanism, 'reinstantiate');
    for (let i = 0; i < 3; i++) assert.equal(await pool.run((api) => api.add()), 3);
  } finally {
    await pool.close();
  }
  await assert.rejects(
    GluePool.create({ glue: path, wasm: module, load, pool: { mechanism: 'reuse' } }),
    (err: unknown) => err instanceof ModuleNotPoolableError && /may grow.*cannot shrink/.test(err.message),
  );
  const fixed = wat(`(module (table (export "table") 2 2 funcref) (func (export "f") (result i32) (i32.const 7)))`);
  const kept = await GluePool.create({
    glue: glueFile(t, 'module.exports.init = (b) => new WebAssembly.Instance(new WebAssembly.Module(b), {}).exports;'),
    wasm: fixed,
    load,
    pool: { max: 1 },
  });
  try {
    assert.equal(kept.describe().mechanism, 'reuse', 'a table that cannot grow does not force reinstantiate');
  } finally {
    await kept.close();
  }
});

test('ES module glue is refused: its state cannot be renewed per use', async () => {
  await assert.rejects(
    GluePool.create({
      glue: packageFile('@resvg/resvg-wasm', 'index.mjs'),
      wasm: packageFile('@resvg/resvg-wasm', 'index_bg.wasm'),
      load: (r) => r,
    }),
    (err: unknown) => err instanceof ModuleNotPoolableError && /ES module.*CommonJS/s.test(err.message),
  );
});

test('a module importing a table is refused: the glue would make a new one each use', async (t) => {
  const module = wat(`(module (import "env" "table" (table 1 funcref)) (memory 1))`);
  await assert.rejects(
    GluePool.create({ glue: glueFile(t, ''), wasm: module, load: (g) => g }),
    (err: unknown) => err instanceof ModuleNotPoolableError && /imports table "env"."table"/.test(err.message),
  );
});

test('a load that never makes the glue instantiate the module is refused', async (t) => {
  const pool = await GluePool.create({ glue: glueFile(t, counterGlue), wasm: counterModule, load: (g) => g, pool: { max: 1 } });
  try {
    await assert.rejects(
      pool.run(() => 1),
      (err: unknown) => err instanceof ModuleNotPoolableError && /without the glue instantiating/.test(err.message),
    );
    assert.equal(await pool.run(() => 1, undefined).catch(() => 'still refused'), 'still refused');
  } finally {
    await pool.close();
  }
});

test('instantiating the module twice in one use is refused', async (t) => {
  const pool = await GluePool.create<unknown>({
    glue: glueFile(t, counterGlue),
    wasm: counterModule,
    load: (g, kit) => {
      g.init(kit.bytes);
      g.init(kit.bytes);
      return g;
    },
    pool: { max: 1 },
  });
  try {
    await assert.rejects(
      pool.run(() => 1),
      (err: unknown) => err instanceof ModuleNotPoolableError && /twice/.test(err.message),
    );
  } finally {
    await pool.close();
  }
});

test('an import the glue does not provide is named', async (t) => {
  const glue = `module.exports.init = (bytes) => new WebAssembly.Instance(new WebAssembly.Module(bytes), { env: {} });`;
  const pool = await GluePool.create({
    glue: glueFile(t, glue),
    wasm: counterModule,
    load: (g, kit) => g.init(kit.bytes),
    pool: { max: 1 },
  });
  try {
    await assert.rejects(
      pool.run(() => 1),
      (err: unknown) => err instanceof ImportMissingError && err.module === 'env' && err.field === 'note',
    );
  } finally {
    await pool.close();
  }
});

test('bad options are InvalidArgumentError', async (t) => {
  const bad = [
    undefined,
    { glue: '', wasm: counterModule, load: () => 1 },
    { glue: glueFile(t, ''), wasm: 42, load: () => 1 },
    { glue: glueFile(t, ''), wasm: counterModule },
    { glue: '/nonexistent/glue.js', wasm: counterModule, load: () => 1 },
    { glue: glueFile(t, 'this is not javascript ((('), wasm: counterModule, load: () => 1 },
    { glue: glueFile(t, ''), wasm: counterModule, load: () => 1, pool: 3 },
    { glue: glueFile(t, ''), wasm: counterModule, load: () => 1, pool: { imports: {} } },
    { glue: glueFile(t, ''), wasm: counterModule, load: () => 1, pool: { initialize: 'bump' } },
    { glue: glueFile(t, ''), wasm: counterModule, load: () => 1, pool: { setup: () => ({}) } },
  ];
  for (const options of bad) {
    await assert.rejects(GluePool.create(options as never), InvalidArgumentError, JSON.stringify(options));
  }
});

test('reuse with tableReserve: the glue sees the declared table, and nothing it puts on the table or its entries reaches the next use', async (t) => {
  const module = wat(`(module
    (type $rt (func (result i32)))
    (table (export "table") 2 funcref)
    (func $one (result i32) i32.const 1)
    (elem (i32.const 0) $one $one)
    (func (export "one") (result i32) i32.const 1)
    (func (export "call") (param i32) (result i32) (call_indirect (type $rt) (local.get 0))))`);
  const glue = `module.exports.init = (bytes) => new WebAssembly.Instance(new WebAssembly.Module(bytes), {}).exports;`;
  type Exports = { table: WebAssembly.Table; one(): number; call(i: number): number };
  const pool = await GluePool.create<Exports>({
    glue: glueFile(t, glue),
    wasm: module,
    load: (g, kit) => g.init(kit.bytes),
    pool: { max: 1, mechanism: 'reuse', tableReserve: 4 },
  });
  try {
    assert.equal(pool.describe().mechanism, 'reuse', pool.describe().mechanismReason);
    const fresh = await pool.runFresh((e) => ({ length: e.table.length, grown: e.table.grow(1, e.one) }));
    for (let i = 0; i < 4; i++) {
      const seen = await pool.run((e) => {
        const entry = e.table.get(0) as unknown as Record<string, unknown>;
        const result = {
          length: e.table.length,
          grown: e.table.grow(1, e.one),
          entryMark: entry.mark,
          tableMark: (e.table as unknown as Record<string, unknown>).mark,
        };
        assert.equal(e.call(2), 1, 'what the glue grew into the table is callable from wasm');
        assert.throws(() => e.table.get(3), RangeError, 'past the size shown, as a fresh table');
        entry.mark = 'earlier use';
        (e.table as unknown as Record<string, unknown>).mark = 'earlier use';
        e.table.set(0, null);
        return result;
      });
      assert.deepEqual(seen, { ...fresh, entryMark: undefined, tableMark: undefined });
    }
    assert.equal(pool.stats().created, 1);
  } finally {
    await pool.close();
  }
});

test('pools of the same glue file share its compiled code, not its state; a changed file is compiled anew', async (t) => {
  const path = glueFile(t, counterGlue);
  const options = {
    glue: path,
    wasm: counterModule,
    load: (glue: { init(bytes: Uint8Array): void; bump(): [number, number] }, kit: { bytes: Uint8Array }) => {
      glue.init(kit.bytes);
      return glue;
    },
    pool: { max: 1 },
  };
  const a = await GluePool.create<{ bump(): [number, number] }>(options);
  const b = await GluePool.create<{ bump(): [number, number] }>(options);
  try {
    for (let i = 0; i < 3; i++) {
      assert.deepEqual(await a.run((api) => [api.bump(), api.bump()]), [
        [1, 2],
        [2, 4],
      ]);
      assert.deepEqual(await b.run((api) => api.bump()), [1, 2]);
      assert.deepEqual(await a.runFresh((api) => api.bump()), [1, 2]);
    }
    writeFileSync(path, counterGlue.replace('++notes]', 'notes += 10]'));
    const c = await GluePool.create<{ bump(): [number, number] }>(options);
    try {
      assert.deepEqual(await c.run((api) => api.bump()), [1, 11], 'the changed glue');
      assert.deepEqual(await a.run((api) => api.bump()), [1, 2], 'a pool made before keeps the glue it compiled');
    } finally {
      await c.close();
    }
  } finally {
    await a.close();
    await b.close();
  }
});
