// Random modules for the pool's differential tests: memories with and without data, passive
// segments, internal mutable globals, a table, a start function, growth, drops and traps, plus
// probe exports that read every piece of instance state from inside the module (JS cannot reach
// internal globals, tables or segments).
import fc from 'fast-check';
import { wat } from './wat.ts';

/** What a random module contains. */
export interface ModuleSpec {
  pages: number;
  maxPages: number | undefined;
  data: { at: number; bytes: Uint8Array }[];
  passive: Uint8Array[];
  globals: { type: 'i32' | 'i64'; init: number }[];
  table: { size: number; fixed: boolean; init: number[] } | undefined;
  passiveElem: boolean;
  start: boolean;
  grow: boolean;
  drop: boolean;
  tableSet: boolean;
}

/** One call of the module's `op` export: `kind` selects what it changes. */
export interface Op {
  kind: number;
  a: number;
  b: number;
}

export const OP = { store: 0, fill: 1, global: 2, grow: 3, tableSet: 4, dataDrop: 5, elemDrop: 6, trap: 7 } as const;

const hex = (bytes: Uint8Array) => [...bytes].map((b) => '\\' + b.toString(16).padStart(2, '0')).join('');

/** The module's text. */
export function moduleText(spec: ModuleSpec): string {
  const lines: string[] = ['(module'];
  lines.push(`(memory (export "memory") ${spec.pages}${spec.maxPages !== undefined ? ` ${spec.maxPages}` : ''})`);
  spec.globals.forEach((g, i) => lines.push(`(global $g${i} (mut ${g.type}) (${g.type}.const ${g.init}))`));
  lines.push('(type $rt (func (result i32)))');
  for (let f = 0; f < 4; f++) lines.push(`(func $f${f} (result i32) i32.const ${100 + f})`);
  const t = spec.table;
  if (t) {
    lines.push(`(table $t ${t.size}${t.fixed ? ` ${t.size}` : ''} funcref)`);
    if (t.init.length > 0) lines.push(`(elem (i32.const 0) func ${t.init.map((f) => `$f${f}`).join(' ')})`);
    if (spec.passiveElem) lines.push('(elem $pe func $f2 $f3)');
    if (spec.tableSet) lines.push('(elem declare func $f1)');
  }
  for (const d of spec.data) lines.push(`(data (i32.const ${d.at}) "${hex(d.bytes)}")`);
  spec.passive.forEach((p, i) => lines.push(`(data $p${i} "${hex(p)}")`));
  if (spec.start) {
    const bump = spec.globals[0] ? `(global.set $g0 (${spec.globals[0].type}.add (global.get $g0) (${spec.globals[0].type}.const 1)))` : '';
    lines.push(`(func $start (i32.store8 (i32.const 8) (i32.add (i32.load8_u (i32.const 8)) (i32.const 90))) ${bump})`);
    lines.push('(start $start)');
  }
  lines.push(opFunction(spec));
  spec.globals.forEach((g, i) => lines.push(`(func (export "g${i}") (result ${g.type}) global.get $g${i})`));
  if (t) {
    lines.push(`(func (export "t") (param i32) (result i32)
      (if (result i32) (ref.is_null (table.get $t (local.get 0))) (then (i32.const -1))
        (else (call_indirect $t (type $rt) (local.get 0)))))`);
    if (spec.passiveElem) lines.push('(func (export "e") (table.init $t $pe (i32.const 0) (i32.const 0) (i32.const 2)))');
  }
  spec.passive.forEach((p, i) =>
    lines.push(`(func (export "d${i}") (memory.init $p${i} (i32.const 0) (i32.const 0) (i32.const ${p.length})))`),
  );
  lines.push(')');
  return lines.join('\n');
}

function opFunction(spec: ModuleSpec): string {
  const size = '(i32.mul (memory.size) (i32.const 65536))';
  const g = spec.globals;
  const setGlobal =
    g.length === 0
      ? 'nop'
      : g
          .map((gl, i) => {
            const value = gl.type === 'i64' ? '(i64.extend_i32_u (local.get $a))' : '(local.get $a)';
            return `(if (i32.eq (i32.rem_u (local.get $b) (i32.const ${g.length})) (i32.const ${i})) (then (global.set $g${i} ${value})))`;
          })
          .join(' ');
  const t = spec.table;
  const tableSet =
    t && spec.tableSet
      ? `(if (i32.eqz (i32.rem_u (local.get $b) (i32.const 5)))
          (then (table.set $t (i32.rem_u (local.get $a) (i32.const ${t.size})) (ref.null func)))
          (else (table.set $t (i32.rem_u (local.get $a) (i32.const ${t.size})) (ref.func $f1))))`
      : 'nop';
  const dataDrop =
    spec.drop && spec.passive.length > 0
      ? spec.passive
          .map(
            (_, i) =>
              `(if (i32.eq (i32.rem_u (local.get $b) (i32.const ${spec.passive.length})) (i32.const ${i})) (then (data.drop $p${i})))`,
          )
          .join(' ')
      : 'nop';
  const elemDrop = spec.drop && t && spec.passiveElem ? '(elem.drop $pe)' : 'nop';
  const cases = [
    `(i32.store8 (i32.rem_u (local.get $a) ${size}) (local.get $b))`,
    `(memory.fill (i32.rem_u (local.get $a) (i32.sub ${size} (i32.const 12288))) (local.get $b) (i32.const 12288))`,
    setGlobal,
    spec.grow ? '(drop (memory.grow (i32.const 1)))' : 'nop',
    tableSet,
    dataDrop,
    elemDrop,
    'unreachable',
  ];
  let body = '(br_table 0 1 2 3 4 5 6 7 (local.get $k))';
  for (const c of cases) body = `(block ${body}) ${c} (return)`;
  return `(func (export "op") (param $k i32) (param $a i32) (param $b i32) ${body})`;
}

/** Random module specs. */
export const moduleSpec: fc.Arbitrary<ModuleSpec> = fc
  .record({
    pages: fc.integer({ min: 1, max: 3 }),
    extraMax: fc.option(fc.integer({ min: 0, max: 3 }), { nil: undefined }),
    data: fc.array(fc.record({ at: fc.nat(), bytes: fc.uint8Array({ minLength: 1, maxLength: 64 }) }), { maxLength: 4 }),
    passive: fc.array(fc.uint8Array({ minLength: 1, maxLength: 32 }), { maxLength: 2 }),
    globals: fc.array(fc.record({ type: fc.constantFrom('i32' as const, 'i64' as const), init: fc.integer({ min: -5, max: 1000 }) }), {
      maxLength: 3,
    }),
    table: fc.option(
      fc.record({
        size: fc.integer({ min: 2, max: 8 }),
        fixed: fc.boolean(),
        init: fc.array(fc.integer({ min: 0, max: 3 }), { maxLength: 2 }),
      }),
      { nil: undefined },
    ),
    passiveElem: fc.boolean(),
    start: fc.boolean(),
    grow: fc.boolean(),
    drop: fc.boolean(),
    tableSet: fc.boolean(),
  })
  .map(({ extraMax, data, ...rest }) => ({
    ...rest,
    maxPages: extraMax === undefined ? undefined : rest.pages + extraMax,
    data: data.map((d) => ({ at: d.at % (rest.pages * 65536 - d.bytes.length), bytes: d.bytes })),
  }));

/** Random uses: each a few ops, sometimes ending in a trap. */
export const uses: fc.Arbitrary<Op[][]> = fc.array(
  fc
    .tuple(
      fc.array(fc.record({ kind: fc.integer({ min: 0, max: 6 }), a: fc.nat(), b: fc.integer({ min: 0, max: 255 }) }), { maxLength: 6 }),
      fc.boolean(),
    )
    .map(([ops, trap]) => (trap ? [...ops, { kind: OP.trap, a: 0, b: 0 }] : ops)),
  { minLength: 1, maxLength: 5 },
);

/** Assembles a spec. */
export function moduleBytes(spec: ModuleSpec): Uint8Array {
  return wat(moduleText(spec));
}

/** Everything observable about an instance of a spec's module, read through its probes. */
export function observe(instance: WebAssembly.Instance, spec: ModuleSpec): Record<string, unknown> {
  const exports = instance.exports;
  const memory = exports.memory as WebAssembly.Memory;
  const state: Record<string, unknown> = {
    size: memory.buffer.byteLength,
    memory: Buffer.from(memory.buffer).toString('base64'),
  };
  spec.globals.forEach((_, i) => (state[`g${i}`] = (exports[`g${i}`] as () => unknown)()));
  if (spec.table) {
    state.table = Array.from({ length: spec.table.size }, (_, i) => (exports.t as (i: number) => number)(i));
  }
  // Segment probes write memory, so they come after the memory was read.
  const outcome = (fn: () => void) => {
    try {
      fn();
      return 'ok';
    } catch (err) {
      return err instanceof WebAssembly.RuntimeError ? 'trap' : String(err);
    }
  };
  spec.passive.forEach((_, i) => (state[`d${i}`] = outcome(exports[`d${i}`] as () => void)));
  if (spec.table && spec.passiveElem) state.e = outcome(exports.e as () => void);
  return state;
}
