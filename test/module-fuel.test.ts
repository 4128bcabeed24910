// The interrupt rewrite (src/module/fuel.ts) against V8: an instrumented guest calls the host's
// check every `fuel` steps, the check's exception stops guests that never return, and with the
// check refilling the counter the instrumented module computes exactly what the original does.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import { wat } from './support/wasm.ts';
import { readModule } from '../src/module/reader.ts';
import { rewriteModule, type RewritePlan } from '../src/module/rewrite.ts';
import { walkInstructions } from '../src/module/instructions.ts';
import { Op } from '../src/module/opcodes.ts';
import { evaluateDataImage, renderImage } from '../src/module/image.ts';
import { InvalidArgumentError } from '../src/errors.ts';

const INTERRUPT = { fuelExport: 'cowpool:fuel', tableExport: 'cowpool:check' } as const;

/** Rewrites with `interrupt` (plus `plan`), checking the output validates and reads back. */
function instrument(bytes: Uint8Array, plan: RewritePlan = {}): Uint8Array {
  const out = rewriteModule(bytes, readModule(bytes), { interrupt: INTERRUPT, ...plan });
  assert.ok(WebAssembly.validate(out), 'instrumented module must validate');
  readModule(out);
  return out;
}

// A JS function becomes something `table.set` accepts by going through a module that imports and
// re-exports it (Node 20 has no `new WebAssembly.Function`).
const CHECK_WRAPPER = new WebAssembly.Module(wat('(module (import "h" "check" (func)) (export "check" (func 0)))'));

/** Thrown by the test checks: stands for the pool's timeout error. */
class Deadline extends Error {}

/**
 * Wires `instance`'s check table to a JS check that refills the counter to `fuel` and throws a
 * {@link Deadline} from its `throwAt`-th call on (never, by default). Sets the counter to `fuel`.
 */
function wire(instance: WebAssembly.Instance, fuel: number, throwAt = Infinity): { calls: () => number } {
  let calls = 0;
  const global = instance.exports[INTERRUPT.fuelExport] as WebAssembly.Global;
  const check = (): void => {
    calls++;
    if (calls >= throwAt) throw new Deadline(`deadline (check call ${calls})`);
    global.value = fuel;
  };
  const wrapper = new WebAssembly.Instance(CHECK_WRAPPER, { h: { check } });
  (instance.exports[INTERRUPT.tableExport] as WebAssembly.Table).set(0, wrapper.exports['check'] as () => void);
  global.value = fuel;
  return { calls: () => calls };
}

function instantiate(bytes: Uint8Array, imports: WebAssembly.Imports = {}): WebAssembly.Instance {
  return new WebAssembly.Instance(new WebAssembly.Module(bytes), imports);
}

const fn = (instance: WebAssembly.Instance, name: string) => instance.exports[name] as (...args: number[]) => unknown;
const globalValue = (instance: WebAssembly.Instance, name: string) => (instance.exports[name] as WebAssembly.Global).value as unknown;

/** Instrumentation points of a module (one per defined function plus one per `loop`) and its instruction count. */
function countPoints(bytes: Uint8Array): { points: number; instructions: number } {
  const info = readModule(bytes);
  let loops = 0;
  let instructions = 0;
  for (const body of info.code) {
    instructions += walkInstructions(bytes, body.instructions, (i) => void (i.opcode === Op.loop && loops++));
  }
  return { points: info.code.length + loops, instructions };
}

/** Instructions in one inserted sequence (see fuel.ts). */
const SEQUENCE_INSTRUCTIONS = 11;

const SPIN = wat(`(module
  (global $iters (export "iters") (mut i32) (i32.const 0))
  (func (export "spin")
    (loop $l
      (global.set $iters (i32.add (global.get $iters) (i32.const 1)))
      (br $l))))`);

test('the rewrite appends a type, a global, a table and two exports; no existing index moves', () => {
  const out = instrument(SPIN);
  const before = readModule(SPIN);
  const after = readModule(out);
  assert.deepEqual(after.types, before.types, "the module's own [] -> [] type is reused");
  assert.deepEqual(after.functions, before.functions);
  assert.deepEqual(
    after.globals.slice(0, -1).map((g) => g.index),
    before.globals.map((g) => g.index),
  );
  const fuel = after.globals.at(-1);
  assert.deepEqual(fuel && [fuel.index, fuel.type, fuel.mutable, fuel.init.instrs], [1, 'i32', true, [{ op: 'i32.const', value: 0 }]]);
  assert.deepEqual(after.tables, [{ element: 'funcref', min: 1, max: 1, table64: false }]);
  assert.deepEqual(after.exports, [
    ...before.exports,
    { name: INTERRUPT.fuelExport, kind: 'global', index: 1 },
    { name: INTERRUPT.tableExport, kind: 'table', index: 0 },
  ]);
  const instance = instantiate(out);
  assert.equal(globalValue(instance, INTERRUPT.fuelExport), 0);
  assert.equal((instance.exports[INTERRUPT.tableExport] as WebAssembly.Table).length, 1);
});

test('every other byte of each body is copied: removing the inserted sequences gives the original', () => {
  const bytes = wat(`(module
    (import "env" "g" (global $imp i32))
    (import "env" "t" (table 1 funcref))
    (type $void (func))
    (global $a (mut i32) (i32.const 0))
    (table $own 2 funcref)
    (func $f (param i32) (result i32) (local i64 f32)
      (loop $l (result i32) (br_if $l (i32.eqz (local.get 0))) (loop (nop)) (i32.const 3)))
    (func $g (i32.const 0) (loop (param i32) (drop)) (i32.const 1) (loop (param i32) (drop)))
    (func $h))`);
  const out = instrument(bytes);
  const before = readModule(bytes);
  const after = readModule(out);
  // The existing `[] -> []` type is reused; the global and table come after imports and definitions.
  assert.equal(after.types.length, before.types.length);
  assert.equal(after.globals.at(-1)?.index, 2);
  assert.equal(after.tables.length, 2);
  const sequence = Uint8Array.from([0x23, 2, 0x41, 1, 0x6b, 0x24, 2, 0x23, 2, 0x41, 0, 0x4c, 0x04, 0x40, 0x41, 0, 0x11, 0, 2, 0x0b]);
  let inserted = 0;
  after.code.forEach((body, i) => {
    const original = before.code[i]!;
    const got = out.subarray(body.range.start, body.range.end);
    const stripped: number[] = [];
    for (let p = 0; p < got.length;) {
      if (sequence.every((b, k) => got[p + k] === b)) {
        inserted++;
        p += sequence.length;
      } else stripped.push(got[p++]!);
    }
    assert.deepEqual(Uint8Array.from(stripped), bytes.subarray(original.range.start, original.range.end), `body ${i}`);
  });
  assert.equal(inserted, countPoints(bytes).points);
  assert.equal(inserted, 3 + 4);
});

test("an infinite loop is stopped: one check per N steps, and the check's exception ends the call", () => {
  for (const [fuel, throwAt] of [
    [1000, 5],
    [1, 4],
    [7, 1],
  ] as const) {
    const instance = instantiate(instrument(SPIN));
    const { calls } = wire(instance, fuel, throwAt);
    assert.throws(() => fn(instance, 'spin')(), Deadline);
    assert.equal(calls(), throwAt);
    // `throwAt * fuel` decrements: the function entry, then loop headers; the last header's check
    // threw before its iteration ran.
    assert.equal(globalValue(instance, 'iters'), throwAt * fuel - 2, `fuel ${fuel}, throw at ${throwAt}`);
  }
});

test('an instance stays usable after an interrupted call once the counter is refilled', () => {
  const bytes = wat(`(module
    (func (export "spin") (loop $l (br $l)))
    (func (export "sum") (param $n i32) (result i32) (local $s i32)
      (block $done (loop $l (br_if $done (i32.eqz (local.get $n)))
        (local.set $s (i32.add (local.get $s) (local.get $n)))
        (local.set $n (i32.sub (local.get $n) (i32.const 1))) (br $l)))
      (local.get $s)))`);
  const instance = instantiate(instrument(bytes));
  let deadline = true;
  const global = instance.exports[INTERRUPT.fuelExport] as WebAssembly.Global;
  const wrapper = new WebAssembly.Instance(CHECK_WRAPPER, {
    h: {
      check: () => {
        if (deadline) throw new Deadline('deadline');
        global.value = 10;
      },
    },
  });
  (instance.exports[INTERRUPT.tableExport] as WebAssembly.Table).set(0, wrapper.exports['check'] as () => void);
  global.value = 100;
  assert.throws(() => fn(instance, 'spin')(), Deadline);
  assert.ok((global.value as number) <= 0, 'the counter is left exhausted');
  deadline = false;
  global.value = 10;
  assert.equal(fn(instance, 'sum')(1000), 500500);
});

test('unbounded recursion without loops is stopped by the function-entry checks before a stack overflow', () => {
  const bytes = wat(`(module
    (global $depth (export "depth") (mut i32) (i32.const 0))
    (func $r (export "r")
      (global.set $depth (i32.add (global.get $depth) (i32.const 1)))
      (call $r))
    (func $a (export "a") (return_call $b))
    (func $b (return_call $a)))`);
  const original = instantiate(bytes);
  assert.throws(() => fn(original, 'r')(), RangeError, 'the original overflows the stack');
  for (const [fuel, throwAt] of [
    [100, 1],
    [1000, 3],
  ] as const) {
    const instance = instantiate(instrument(bytes));
    const { calls } = wire(instance, fuel, throwAt);
    assert.throws(() => fn(instance, 'r')(), Deadline);
    assert.equal(calls(), throwAt);
    assert.equal(globalValue(instance, 'depth'), throwAt * fuel - 1);
  }
  // Mutual tail recursion never grows the stack; the entries still count.
  const instance = instantiate(instrument(bytes));
  const { calls } = wire(instance, 50, 10);
  assert.throws(() => fn(instance, 'a')(), Deadline);
  assert.equal(calls(), 10);
});

test("a guest that catches the check's exception (legacy catch_all) is still stopped: <= 0 keeps checking", (t) => {
  // After each catch the guest runs a bounded loop and would then return 7: with an `== 0` test
  // the counter, already below zero, would never call the check again and the call would succeed.
  const bump = '(global.set $caught (i32.add (global.get $caught) (i32.const 1)))';
  const bounded = (i: string) => `(loop $l${i} (local.set ${i} (i32.add (local.get ${i}) (i32.const 1)))
    (br_if $l${i} (i32.lt_u (local.get ${i}) (i32.const 1000))))`;
  const bytes = wat(`(module
    (global $caught (export "caught") (mut i32) (i32.const 0))
    (func (export "spin") (result i32) (local $i i32) (local $j i32)
      (try (do
          (try (do (loop $inner (br $inner))) (catch_all ${bump}))
          ${bounded('$i')})
        (catch_all ${bump}))
      ${bounded('$j')}
      (i32.const 7)))`);
  if (!WebAssembly.validate(bytes)) {
    t.skip(`V8 ${process.versions.v8} cannot run legacy exception handling (try/catch_all)`);
    return;
  }
  const instance = instantiate(instrument(bytes));
  const { calls } = wire(instance, 100, 3);
  assert.throws(() => fn(instance, 'spin')(), Deadline);
  // The third check throws inside the inner try and is caught; the next loop header finds the
  // counter below zero and checks again (caught by the outer try); the last loop's header checks
  // a fifth time, outside every try.
  assert.equal(globalValue(instance, 'caught'), 2);
  assert.equal(calls(), 5);
  assert.ok((globalValue(instance, INTERRUPT.fuelExport) as number) < 0);
});

test('a real C guest that never returns (test/fixtures/loop.wasm) is stopped', () => {
  const bytes = new Uint8Array(readFileSync(fileURLToPath(new URL('./fixtures/loop.wasm', import.meta.url))));
  const instance = instantiate(instrument(bytes), {
    wasi_snapshot_preview1: {
      proc_exit: () => {
        throw new Error('proc_exit: the loop returned');
      },
    },
  });
  const { calls } = wire(instance, 10_000, 20);
  assert.throws(() => fn(instance, '_start')(), Deadline);
  assert.equal(calls(), 20);
});

test('until the host fills the table, instrumented code traps; a start section needs removeStart or startExport', () => {
  const instance = instantiate(instrument(SPIN));
  assert.throws(() => fn(instance, 'spin')(), WebAssembly.RuntimeError);
  const withStart = wat(`(module
    (global $g (export "g") (mut i32) (i32.const 0))
    (func $start (global.set $g (i32.const 1)))
    (start $start)
    (func (export "get") (result i32) (global.get $g)))`);
  assert.throws(() => instantiate(instrument(withStart)), WebAssembly.RuntimeError);
  const noStart = instantiate(instrument(withStart, { removeStart: true }));
  wire(noStart, 10);
  assert.equal(fn(noStart, 'get')(), 0);
});

test('startExport: the start function no longer runs at instantiation but is exported, for the host to run once wired', () => {
  const withStart = wat(`(module
    (global $g (export "g") (mut i32) (i32.const 0))
    (func $start (global.set $g (i32.add (global.get $g) (i32.const 1))) (loop $l (br_if $l (i32.const 0))))
    (start $start)
    (func (export "get") (result i32) (global.get $g)))`);
  const deferred = instrument(withStart, { interrupt: { ...INTERRUPT, startExport: 'cowpool:start' } });
  assert.equal(readModule(deferred).start, undefined, 'no start section');
  const instance = instantiate(deferred);
  assert.equal(globalValue(instance, 'g'), 0, 'nothing ran at instantiation (the table is empty: it would have trapped)');
  wire(instance, 10);
  fn(instance, 'cowpool:start')();
  assert.equal(fn(instance, 'get')(), 1, 'the exported start function is the original one');
  // A start function that never returns is stopped by the check like any other code.
  const looping = instrument(wat('(module (func $s (loop $l (br $l))) (start $s))'), {
    interrupt: { ...INTERRUPT, startExport: 'cowpool:start' },
  });
  const stuck = instantiate(looping);
  const { calls } = wire(stuck, 1000, 5);
  assert.throws(() => fn(stuck, 'cowpool:start')(), Deadline);
  assert.equal(calls(), 5);
  // removeStart wins; a module without a start function gets no export.
  assert.ok(
    !WebAssembly.Module.exports(
      new WebAssembly.Module(
        instrument(withStart, {
          removeStart: true,
          interrupt: { ...INTERRUPT, startExport: 'cowpool:start' },
        }),
      ),
    ).some((e) => e.name === 'cowpool:start'),
  );
  assert.ok(
    !WebAssembly.Module.exports(
      new WebAssembly.Module(
        instrument(SPIN, {
          interrupt: { ...INTERRUPT, startExport: 'cowpool:start' },
        }),
      ),
    ).some((e) => e.name === 'cowpool:start'),
  );
});

// ---- Behaviour equivalence ----------------------------------------------------------------------

/** Calls `name(...args)` on both, with the check refilling `fuel`; the results must agree. */
function sameResults(bytes: Uint8Array, calls: readonly [string, ...number[]][], fuels = [1_000_000, 1]): void {
  const original = instantiate(bytes);
  const expected = calls.map(([name, ...args]) => fn(original, name)(...args));
  for (const fuel of fuels) {
    const instance = instantiate(instrument(bytes));
    const checks = wire(instance, fuel);
    const got = calls.map(([name, ...args]) => fn(instance, name)(...args));
    assert.deepEqual(got, expected, `fuel ${fuel}`);
    if (fuel === 1) assert.ok(checks.calls() > 0, 'with fuel 1 every point checks');
  }
}

test('hand-written programs compute the same with the check refilling generously or at every step', () => {
  const bytes = wat(`(module
    (type $bin (func (param i32 i32) (result i32)))
    (table 2 funcref) (elem (i32.const 0) $add $mul)
    (func $add (type $bin) (i32.add (local.get 0) (local.get 1)))
    (func $mul (type $bin) (i32.mul (local.get 0) (local.get 1)))
    (func (export "sum") (param $n i32) (result i64) (local $i i32) (local $s i64)
      (block $done (loop $l (br_if $done (i32.ge_u (local.get $i) (local.get $n)))
        (local.set $s (i64.add (local.get $s) (i64.extend_i32_u (local.get $i))))
        (local.set $i (i32.add (local.get $i) (i32.const 1))) (br $l)))
      (local.get $s))
    (func (export "nested") (param $n i32) (result i32) (local $i i32) (local $j i32) (local $acc i32)
      (loop $outer
        (local.set $j (i32.const 0))
        (block $inner_done
          (loop $inner
            (br_if $inner_done (i32.ge_u (local.get $j) (local.get $i)))
            (local.set $acc (i32.add (i32.mul (local.get $acc) (i32.const 31)) (i32.xor (local.get $i) (local.get $j))))
            (local.set $j (i32.add (local.get $j) (i32.const 1)))
            (br_if $inner (i32.ne (i32.and (local.get $acc) (i32.const 7)) (i32.const 3)))))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br_if $outer (i32.lt_u (local.get $i) (local.get $n))))
      (local.get $acc))
    (func $divmod (param i32 i32) (result i32 i32)
      (i32.div_u (local.get 0) (local.get 1)) (i32.rem_u (local.get 0) (local.get 1)))
    (func (export "multi") (param $n i32) (result i32) (local $q i32) (local $r i32) (local $k i32)
      (local.set $k (i32.const 1))
      (local.get $n)
      (loop $l (param i32) (result i32)
        (block (param i32) (result i32 i32) (call $divmod (i32.const 7)))
        (local.set $r) (local.set $q)
        (local.set $k (i32.add (local.get $k) (i32.add (local.get $q) (local.get $r))))
        (local.get $q)
        (br_if $l (local.get $q)))
      (i32.add (local.get $k)))
    (func (export "switch") (param $n i32) (result i32) (local $acc i32)
      (loop $l
        (block $c3 (block $c2 (block $c1 (block $c0
          (br_table $c0 $c1 $c2 $c3 (i32.and (local.get $n) (i32.const 3))))
          (local.set $acc (i32.add (local.get $acc) (i32.const 1))) (br $c3))
          (local.set $acc (i32.mul (local.get $acc) (i32.const 3))) (br $c3))
          (local.set $acc (i32.xor (local.get $acc) (local.get $n))))
        (local.set $n (i32.sub (local.get $n) (i32.const 1)))
        (br_if $l (i32.gt_s (local.get $n) (i32.const 0))))
      (local.get $acc))
    (func $fib (export "fib") (param $n i32) (result i32)
      (if (result i32) (i32.lt_u (local.get $n) (i32.const 2)) (then (local.get $n))
        (else (i32.add (call $fib (i32.sub (local.get $n) (i32.const 1))) (call $fib (i32.sub (local.get $n) (i32.const 2)))))))
    (func (export "fold") (param $n i32) (result i32) (local $acc i32)
      (loop $l
        (local.set $acc (call_indirect (type $bin) (local.get $acc) (local.get $n) (i32.and (local.get $n) (i32.const 1))))
        (local.set $n (i32.sub (local.get $n) (i32.const 1)))
        (br_if $l (local.get $n)))
      (local.get $acc))
    (func $countdown (param $n i32) (result i32)
      (if (result i32) (i32.eqz (local.get $n)) (then (i32.const 42))
        (else (return_call $countdown (i32.sub (local.get $n) (i32.const 1))))))
    (func (export "tail") (param i32) (result i32) (call $countdown (local.get 0))))`);
  sameResults(bytes, [
    ['sum', 0],
    ['sum', 100_000],
    ['nested', 60],
    ['multi', 1_000_000],
    ['multi', 0],
    ['switch', 99],
    ['fib', 18],
    ['fold', 1000],
    ['tail', 100_000],
  ]);
});

// Random structured programs: counted loops (with early exits), if/else, br_table switches,
// multi-value blocks and calls to a helper that itself loops and returns two values.
type Expr = { k: 'local'; i: number } | { k: 'const'; v: number } | { k: 'bin'; op: string; a: Expr; b: Expr };
type Stmt =
  | { k: 'set'; dst: number; e: Expr }
  | { k: 'loop'; n: number; body: Stmt[] }
  | { k: 'if'; c: Expr; then: Stmt[]; else: Stmt[] }
  | { k: 'switch'; e: Expr; cases: Stmt[][] }
  | { k: 'pair'; dst: [number, number]; a: Expr; b: Expr }
  | { k: 'call'; dst: [number, number]; a: Expr; b: Expr }
  | { k: 'exit'; c: Expr };

const LOCALS = 4;
const OPS = ['i32.add', 'i32.sub', 'i32.mul', 'i32.xor', 'i32.and', 'i32.or', 'i32.shl', 'i32.shr_u', 'i32.rotl'];
const local = fc.integer({ min: 0, max: LOCALS - 1 });

function exprArb(depth: number): fc.Arbitrary<Expr> {
  const leaf = fc.oneof(
    local.map((i): Expr => ({ k: 'local', i })),
    fc.integer({ min: -1000, max: 1000 }).map((v): Expr => ({ k: 'const', v })),
  );
  if (depth === 0) return leaf;
  const sub = exprArb(depth - 1);
  return fc.oneof(leaf, fc.record({ k: fc.constant('bin' as const), op: fc.constantFrom(...OPS), a: sub, b: sub }));
}

function stmtsArb(depth: number, minLength = 0): fc.Arbitrary<Stmt[]> {
  const e = exprArb(2);
  const simple: fc.Arbitrary<Stmt>[] = [
    fc.record({ k: fc.constant('set' as const), dst: local, e }),
    fc.record({ k: fc.constant('pair' as const), dst: fc.tuple(local, local), a: e, b: e }),
    fc.record({ k: fc.constant('call' as const), dst: fc.tuple(local, local), a: e, b: e }),
    fc.record({ k: fc.constant('exit' as const), c: e }),
  ];
  if (depth === 0) return fc.array(fc.oneof(...simple), { maxLength: 3 });
  const inner = stmtsArb(depth - 1);
  return fc.array(
    fc.oneof(
      ...simple,
      { arbitrary: fc.record({ k: fc.constant('loop' as const), n: fc.integer({ min: 0, max: 6 }), body: inner }), weight: 4 },
      fc.record({ k: fc.constant('if' as const), c: e, then: inner, else: inner }),
      fc.record({ k: fc.constant('switch' as const), e, cases: fc.array(inner, { minLength: 1, maxLength: 4 }) }),
    ),
    { minLength, maxLength: 4 },
  );
}

function renderExpr(e: Expr): string {
  switch (e.k) {
    case 'local':
      return `(local.get $x${e.i})`;
    case 'const':
      return `(i32.const ${e.v})`;
    case 'bin':
      return `(${e.op} ${renderExpr(e.a)} ${renderExpr(e.b)})`;
  }
}

/** The text of a module whose `run(x0, x1)` executes `program`. */
function programText(program: Stmt[]): string {
  let labels = 0;
  let maxDepth = 0;
  const render = (stmts: Stmt[], loopDepth: number, exitLabel: string | undefined): string =>
    stmts
      .map((s): string => {
        switch (s.k) {
          case 'set':
            return `(local.set $x${s.dst} ${renderExpr(s.e)})`;
          case 'pair':
            return `(block (result i32 i32) ${renderExpr(s.a)} ${renderExpr(s.b)}) (local.set $x${s.dst[1]}) (local.set $x${s.dst[0]})`;
          case 'call':
            return `(call $mix ${renderExpr(s.a)} ${renderExpr(s.b)}) (local.set $x${s.dst[1]}) (local.set $x${s.dst[0]})`;
          case 'exit':
            return exitLabel === undefined ? '' : `(br_if ${exitLabel} ${renderExpr(s.c)})`;
          case 'loop': {
            const d = loopDepth;
            maxDepth = Math.max(maxDepth, d + 1);
            const id = labels++;
            return `(local.set $c${d} (i32.const ${s.n}))
              (block $b${id} (loop $l${id}
                (br_if $b${id} (i32.eqz (local.get $c${d})))
                (local.set $c${d} (i32.sub (local.get $c${d}) (i32.const 1)))
                ${render(s.body, d + 1, `$b${id}`)}
                (br $l${id})))`;
          }
          case 'if':
            return `(if ${renderExpr(s.c)} (then ${render(s.then, loopDepth, exitLabel)}) (else ${render(s.else, loopDepth, exitLabel)}))`;
          case 'switch': {
            const id = labels++;
            const n = s.cases.length;
            let text = `(br_table ${s.cases.map((_, i) => `$s${id}_${i}`).join(' ')} (i32.rem_u ${renderExpr(s.e)} (i32.const ${n})))`;
            s.cases.forEach((c, i) => {
              text = `(block $s${id}_${i} ${text}) ${render(c, loopDepth, exitLabel)} (br $s${id}_end)`;
            });
            return `(block $s${id}_end ${text})`;
          }
        }
      })
      .join('\n');
  const body = render(program, 0, undefined);
  const counters = Array.from({ length: maxDepth }, (_, d) => `(local $c${d} i32)`).join(' ');
  return `(module
    (func $mix (param $a i32) (param $b i32) (result i32 i32) (local $i i32)
      (local.set $i (i32.and (local.get $b) (i32.const 7)))
      (block $done (loop $l
        (br_if $done (i32.eqz (local.get $i)))
        (local.set $a (i32.add (i32.rotl (local.get $a) (i32.const 5)) (local.get $i)))
        (local.set $i (i32.sub (local.get $i) (i32.const 1)))
        (br $l)))
      (local.get $a) (i32.xor (local.get $a) (local.get $b)))
    (func (export "run") (param $x0 i32) (param $x1 i32) (result i32)
      (local $x2 i32) (local $x3 i32) ${counters}
      ${body}
      (i32.add (i32.xor (local.get $x0) (i32.mul (local.get $x1) (i32.const 31)))
        (i32.xor (local.get $x2) (i32.rotl (local.get $x3) (i32.const 7))))))`;
}

test('loops only (calls: false): loop headers count, function entries do not, results are unchanged', () => {
  const loopsOnly = (bytes: Uint8Array) => instrument(bytes, { interrupt: { ...INTERRUPT, calls: false } });
  // Only the loop header counts now: `throwAt * fuel` iterations begin, the last one's check throws.
  const instance = instantiate(loopsOnly(SPIN));
  const { calls } = wire(instance, 100, 3);
  assert.throws(() => fn(instance, 'spin')(), Deadline);
  assert.equal(calls(), 3);
  assert.equal(globalValue(instance, 'iters'), 3 * 100 - 1);
  // The documented limit: loop-free recursion is not counted, so it runs until the stack overflows.
  const recursive = wat(`(module (func $r (export "r") (call $r)))`);
  const unchecked = instantiate(loopsOnly(recursive));
  const checks = wire(unchecked, 1, 1);
  assert.throws(() => fn(unchecked, 'r')(), RangeError);
  assert.equal(checks.calls(), 0);
  fc.assert(
    fc.property(stmtsArb(3, 1), fc.tuple(fc.integer(), fc.integer()), (program, [a, b]) => {
      const bytes = wat(programText(program));
      const expected = fn(instantiate(bytes), 'run')(a, b);
      for (const fuel of [1_000_000, 1]) {
        const counted = instantiate(loopsOnly(bytes));
        wire(counted, fuel);
        assert.deepEqual(fn(counted, 'run')(a, b), expected, `fuel ${fuel}`);
      }
    }),
    { numRuns: 40 },
  );
});

test('random programs (loops, exits, br_table, multi-value blocks, calls) compute the same (property)', () => {
  fc.assert(
    fc.property(stmtsArb(3, 1), fc.array(fc.tuple(fc.integer(), fc.integer()), { minLength: 1, maxLength: 3 }), (program, inputs) => {
      sameResults(
        wat(programText(program)),
        inputs.map(([a, b]) => ['run', a, b]),
        [1_000_000, 1, 3],
      );
    }),
    { numRuns: 80 },
  );
});

// ---- With the pool's other rewrites ----------------------------------------------------------

const STATEFUL = wat(`(module
  (memory (export "mem") 1 2)
  (global $counter (mut i32) (i32.const 5))
  (global $wide (mut i64) (i64.const -7))
  (type $rt (func (result i32)))
  (table 2 funcref) (elem (i32.const 0) $one $two)
  (data (i32.const 100) "hello, pool")
  (data $p "passive")
  (func $one (result i32) (i32.const 1))
  (func $two (result i32) (i32.const 2))
  (func $start (global.set $counter (i32.const 6)))
  (start $start)
  (func (export "work") (param $n i32) (result i32) (local $i i32) (local $s i32)
    (global.set $counter (i32.add (global.get $counter) (i32.const 1)))
    (global.set $wide (i64.add (global.get $wide) (i64.extend_i32_u (local.get $n))))
    (loop $l
      (local.set $s (i32.add (local.get $s)
        (i32.add (i32.load8_u (i32.add (i32.const 100) (i32.rem_u (local.get $i) (i32.const 11))))
          (call_indirect (type $rt) (i32.and (local.get $i) (i32.const 1))))))
      (i32.store8 (i32.add (i32.const 200) (local.get $i)) (local.get $s))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $l (i32.lt_u (local.get $i) (local.get $n))))
    (i32.add (local.get $s) (global.get $counter)))
  (func (export "init") (memory.init $p (i32.const 300) (i32.const 0) (i32.const 7)))
  (func (export "wide") (result i64) (global.get $wide)))`);

test('combined with importMemory, stripActiveData, exportGlobals, exportTables, globalInits and removeStart', () => {
  const plan: RewritePlan = {
    importMemory: { module: 'cowpool', name: 'memory' },
    stripActiveData: true,
    exportGlobals: { prefix: 'cowpool:global:' },
    exportTables: { prefix: 'cowpool:table:' },
    // What pre-initialization would bake in: the start function's effect.
    globalInits: new Map([[0, 6]]),
    removeStart: true,
  };
  const out = instrument(STATEFUL, plan);
  const info = readModule(out);
  assert.equal(info.start, undefined);
  assert.deepEqual(info.exports.map((e) => [e.name, e.kind, e.index]).slice(-5), [
    ['cowpool:global:0', 'global', 0],
    ['cowpool:global:1', 'global', 1],
    ['cowpool:table:0', 'table', 0],
    [INTERRUPT.fuelExport, 'global', 2],
    [INTERRUPT.tableExport, 'table', 1],
  ]);

  const original = instantiate(STATEFUL);
  const image = renderImage(evaluateDataImage(readModule(STATEFUL), STATEFUL, () => undefined));
  const memory = new WebAssembly.Memory({ initial: 1, maximum: 2 });
  new Uint8Array(memory.buffer).set(image.bytes, image.start);
  const pooled = instantiate(out, { cowpool: { memory } });
  const checks = wire(pooled, 5);
  assert.equal(globalValue(pooled, 'cowpool:global:0'), 6);
  for (const n of [1, 11, 50, 3]) assert.equal(fn(pooled, 'work')(n), fn(original, 'work')(n), `work(${n})`);
  fn(pooled, 'init')();
  fn(original, 'init')();
  assert.equal(fn(pooled, 'wide')(), fn(original, 'wide')());
  const originalMemory = new Uint8Array((original.exports['mem'] as WebAssembly.Memory).buffer);
  assert.equal(Buffer.compare(new Uint8Array(memory.buffer), originalMemory), 0, 'memories differ');
  assert.ok(checks.calls() > 0);
});

test('export names that collide are refused like the export prefixes are', () => {
  const bytes = wat('(module (global (export "taken") (mut i32) (i32.const 0)) (table 1 funcref) (func (export "f")))');
  const cases: [NonNullable<RewritePlan['interrupt']>, RewritePlan, RegExp][] = [
    [{ fuelExport: 'taken', tableExport: 'check' }, {}, /plan\.interrupt\.fuelExport "taken" is already taken/],
    [{ fuelExport: 'fuel', tableExport: 'f' }, {}, /plan\.interrupt\.tableExport "f" is already taken/],
    [{ fuelExport: 'same', tableExport: 'same' }, {}, /names "same" for two exports/],
    [{ fuelExport: 'fuel', tableExport: 'check', startExport: 'fuel' }, {}, /names "fuel" for two exports/],
    [{ fuelExport: 'fuel', tableExport: 't0' }, { exportTables: { prefix: 't' } }, /tableExport "t0" is already taken/],
    [{ fuelExport: 42 as unknown as string, tableExport: 'check' }, {}, /plan\.interrupt\.fuelExport must be a string/],
  ];
  for (const [interrupt, plan, message] of cases) {
    assert.throws(
      () => rewriteModule(bytes, readModule(bytes), { ...plan, interrupt }),
      (err: unknown) => {
        assert.ok(err instanceof InvalidArgumentError, String(err));
        assert.match(err.message, message);
        return true;
      },
    );
  }
  const notObject = { interrupt: 'yes' } as unknown as RewritePlan;
  assert.throws(() => rewriteModule(bytes, readModule(bytes), notObject), InvalidArgumentError);
});

test('modules without functions, types, globals, tables or exports get the sections they need', () => {
  for (const text of ['(module)', '(module (memory 1))', '(module (import "e" "t" (table 3 funcref)) (import "e" "g" (global i64)))']) {
    const bytes = wat(text);
    const out = instrument(bytes);
    const info = readModule(out);
    assert.deepEqual(info.types.at(-1), { params: [], results: [] });
    assert.equal(info.globals.length, 1);
    assert.equal(info.tables.length, 1);
    assert.equal(info.exports.length, 2);
    assert.deepEqual(
      info.exports.map((e) => e.index),
      [info.importedGlobalCount, info.importedTableCount],
    );
  }
});

test("every compiled example and fixture instruments and validates, alone and with the pool's rewrites", () => {
  const dirs = [new URL('../examples/', import.meta.url), new URL('./fixtures/', import.meta.url)];
  const files = dirs.flatMap((dir) =>
    readdirSync(dir)
      .filter((f) => f.endsWith('.wasm'))
      .map((f) => fileURLToPath(new URL(f, dir))),
  );
  assert.ok(files.length >= 10, `found ${files.length} .wasm files`);
  for (const file of files) {
    const bytes = new Uint8Array(readFileSync(file));
    const out = instrument(bytes);
    const before = countPoints(bytes);
    const after = countPoints(out);
    assert.equal(after.points, before.points, `${file}: the sequences add no loop`);
    assert.equal(after.instructions, before.instructions + before.points * SEQUENCE_INSTRUCTIONS, `${file}: one sequence per point`);
    const info = readModule(bytes);
    if (info.memories.length > 0) {
      instrument(bytes, { importMemory: { module: 'cowpool', name: 'memory' }, stripActiveData: true, exportGlobals: { prefix: 'g' } });
    }
  }
});
