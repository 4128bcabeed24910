// The walker's opcode tables against wabt's decoder, opcode by opcode: every opcode the tables know
// must decode in wabt as exactly one instruction when given the immediates the tables describe (a
// wrong immediate length shows up as a missing `end` or as extra instructions), and every opcode
// they do not know must be rejected by wabt too.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { allFeatures, binary, section, uleb, wabt } from './support/wasm.ts';
import { Imm, prefixedImmediates, singleByteImmediates } from '../src/module/opcodes.ts';
import { walkInstructions } from '../src/module/instructions.ts';
import { readModule } from '../src/module/reader.ts';

const features = { ...allFeatures, function_references: true };

// The smallest immediates of each kind; index 0 exists in every index space of the test module.
const CANONICAL: Record<number, number[]> = {
  [Imm.none]: [],
  [Imm.index]: [0],
  [Imm.index2]: [0, 0],
  [Imm.brTable]: [0, 0],
  [Imm.memarg]: [0, 0],
  [Imm.i32]: [0],
  [Imm.i64]: [0],
  [Imm.f32]: [0, 0, 0, 0],
  [Imm.f64]: new Array<number>(8).fill(0),
  [Imm.bytes16]: new Array<number>(16).fill(0),
  [Imm.lane]: [0],
  [Imm.memargLane]: [0, 0, 0],
  [Imm.valTypes]: [1, 0x7f],
  [Imm.heapType]: [0x70],
  [Imm.byte]: [0],
};

// Block structure (covered by the WAT tests) and prefixes (enumerated below) are not single opcodes.
const STRUCTURAL = new Set([0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x0b, 0x18, 0x19, 0x1f, 0xfb, 0xfc, 0xfd, 0xfe]);

// Typed function references / GC instructions wabt 1.0.39 cannot decode. Their numbers come from
// the GC proposal's final opcode table (ref.eq 0xD3, ref.as_non_null 0xD4, br_on_null 0xD5,
// br_on_non_null 0xD6, return_call_ref 0x15); if wabt learns them, this test asks for a check.
const BEYOND_WABT = new Set(['0x15', '0xd3', '0xd4', '0xd5', '0xd6']);

/** A module with one function per body and one of everything an immediate can name. */
function moduleWith(bodies: number[][]): Uint8Array {
  const code = bodies.flatMap((b) => {
    const body = [0, ...b, 0x0b];
    return [...uleb(body.length), ...body];
  });
  return binary(
    section(1, [1, 0x60, 0, 0]),
    section(3, [...uleb(bodies.length), ...bodies.map(() => 0)]),
    section(4, [1, 0x70, 0, 1]),
    section(5, [1, 0, 1]),
    section(13, [1, 0, 0]),
    section(6, [1, 0x7f, 1, 0x41, 0, 0x0b]),
    section(9, [1, 1, 0, 1, 0]),
    section(12, [1]),
    section(10, [...uleb(bodies.length), ...code]),
    section(11, [1, 1, 0]),
  );
}

/** wabt's text for the module's functions, or null if wabt cannot decode it. */
function wabtDecode(bytes: Uint8Array): string | null {
  let m;
  try {
    m = wabt.readWasm(bytes, { check: true, ...features });
  } catch {
    return null;
  }
  try {
    return m.toText({});
  } finally {
    m.destroy();
  }
}

interface Case {
  readonly name: string;
  readonly encoding: number[];
  readonly kind: number;
}

function allCases(): Case[] {
  const cases: Case[] = [];
  for (let op = 0; op < 256; op++) {
    if (!STRUCTURAL.has(op)) cases.push({ name: `0x${op.toString(16)}`, encoding: [op], kind: singleByteImmediates[op] ?? 0 });
  }
  for (const [prefix, table] of prefixedImmediates) {
    for (let sub = 0; sub < table.length + 16; sub++) {
      cases.push({ name: `0x${prefix.toString(16)} 0x${sub.toString(16)}`, encoding: [prefix, ...uleb(sub)], kind: table[sub] ?? 0 });
    }
  }
  return cases;
}

test('every known opcode decodes in wabt as one instruction with the immediates the table gives', () => {
  const known = allCases().filter((c) => c.kind !== Imm.unknown && !BEYOND_WABT.has(c.name));
  const bodies = known.map((c) => [...c.encoding, ...(CANONICAL[c.kind] ?? [])]);
  const bytes = moduleWith(bodies);
  const text = wabtDecode(bytes);
  assert.ok(text !== null, 'wabt failed to decode the module of all known opcodes');
  const functions = text.split('\n  (func ').slice(1);
  assert.equal(functions.length, known.length);
  functions.forEach((f, i) => {
    const lines = f
      .split('\n')
      .slice(1)
      .filter((l) => l.startsWith('    '));
    assert.equal(lines.length, 1, `${known[i]?.name} => wabt decodes ${JSON.stringify(lines)}`);
  });
  // And our walker agrees: one instruction plus the final end, per body.
  const info = readModule(bytes);
  for (const [i, body] of info.code.entries()) {
    assert.equal(walkInstructions(bytes, body.instructions), 2, `${known[i]?.name}`);
  }
});

test('every opcode the table does not know is rejected by wabt too', () => {
  for (const c of allCases()) {
    if (c.kind !== Imm.unknown) continue;
    const text = wabtDecode(moduleWith([[...c.encoding, 0, 0, 0, 0]]));
    assert.equal(text, null, `${c.name} is unknown to cowpool but wabt decodes it`);
  }
});

test('opcodes beyond wabt are still in the table (checked against the GC proposal by hand)', () => {
  for (const name of BEYOND_WABT) {
    const op = Number.parseInt(name, 16);
    assert.notEqual(singleByteImmediates[op], Imm.unknown, name);
    const text = wabtDecode(moduleWith([[op, ...(CANONICAL[singleByteImmediates[op] ?? 0] ?? [])]]));
    assert.equal(text, null, `wabt now decodes ${name}: compare its immediates with the table`);
  }
});
