/**
 * Constant expressions: the initializers of globals, table slots and element items, and the
 * offsets of active segments. They are decoded into a short instruction list (and their byte range
 * kept, so the rewriter can copy them) and evaluated when the pool needs a number: a data segment
 * offset, or the value a numeric global starts with.
 */

import { InvalidArgumentError } from '../errors.js';
import type { ByteReader } from './bytes.js';
import type { ArithmeticOp, ConstExpr, ConstInstr } from './types.js';
import { readHeapType } from './valtypes.js';

// The extended-const proposal's additions.
const ARITHMETIC: ReadonlyMap<number, ArithmeticOp> = new Map([
  [0x6a, 'i32.add'],
  [0x6b, 'i32.sub'],
  [0x6c, 'i32.mul'],
  [0x7c, 'i64.add'],
  [0x7d, 'i64.sub'],
  [0x7e, 'i64.mul'],
]);

/** Reads a constant expression up to and including its `end`. */
export function readConstExpr(r: ByteReader): ConstExpr {
  const start = r.pos;
  const instrs: ConstInstr[] = [];
  for (;;) {
    const at = r.pos;
    const op = r.u8();
    switch (op) {
      case 0x0b:
        return { instrs, range: { start, end: r.pos } };
      case 0x41:
        instrs.push({ op: 'i32.const', value: r.s32() });
        break;
      case 0x42:
        instrs.push({ op: 'i64.const', value: r.s64() });
        break;
      case 0x43:
        instrs.push({ op: 'f32.const', value: r.f32() });
        break;
      case 0x44:
        instrs.push({ op: 'f64.const', value: r.f64() });
        break;
      case 0xd0:
        instrs.push({ op: 'ref.null', heapType: readHeapType(r) });
        break;
      case 0xd2:
        instrs.push({ op: 'ref.func', functionIndex: r.u32() });
        break;
      case 0x23:
        instrs.push({ op: 'global.get', globalIndex: r.u32() });
        break;
      case 0xfd: {
        const sub = r.u32();
        if (sub !== 0x0c) r.fail(`SIMD instruction 0xfd ${sub} is not allowed in a constant expression`, at);
        instrs.push({ op: 'v128.const', bytes: r.take(16) });
        break;
      }
      case 0xfb:
        r.fail('unsupported: GC proposal instruction (0xfb prefix) in a constant expression', at);
        break;
      default: {
        const arithmetic = ARITHMETIC.get(op);
        if (arithmetic === undefined) {
          r.fail(`instruction 0x${op.toString(16)} is not allowed in a constant expression`, at);
        }
        instrs.push({ op: arithmetic });
      }
    }
  }
}

/**
 * Evaluates a numeric constant expression: i32 and f32/f64 results as numbers, i64 as a bigint.
 * `globalValue` supplies `global.get` operands (imported globals, or earlier defined ones).
 *
 * @throws InvalidArgumentError if the expression produces a reference or a v128, or is ill-typed.
 */
export function evaluateConstExpr(expr: ConstExpr, globalValue: (globalIndex: number) => number | bigint): number | bigint {
  const stack: (number | bigint)[] = [];
  const pop = (): number | bigint => {
    const v = stack.pop();
    if (v === undefined) throw new InvalidArgumentError('constant expression pops an empty stack');
    return v;
  };
  for (const ins of expr.instrs) {
    switch (ins.op) {
      case 'i32.const':
      case 'i64.const':
      case 'f32.const':
      case 'f64.const':
        stack.push(ins.value);
        break;
      case 'global.get':
        stack.push(globalValue(ins.globalIndex));
        break;
      case 'i32.add':
      case 'i32.sub':
      case 'i32.mul': {
        const b = pop();
        const a = pop();
        if (typeof a !== 'number' || typeof b !== 'number') {
          throw new InvalidArgumentError(`${ins.op} in a constant expression needs i32 operands`);
        }
        stack.push(ins.op === 'i32.add' ? (a + b) | 0 : ins.op === 'i32.sub' ? (a - b) | 0 : Math.imul(a, b));
        break;
      }
      case 'i64.add':
      case 'i64.sub':
      case 'i64.mul': {
        const b = pop();
        const a = pop();
        if (typeof a !== 'bigint' || typeof b !== 'bigint') {
          throw new InvalidArgumentError(`${ins.op} in a constant expression needs i64 operands`);
        }
        stack.push(BigInt.asIntN(64, ins.op === 'i64.add' ? a + b : ins.op === 'i64.sub' ? a - b : a * b));
        break;
      }
      default:
        throw new InvalidArgumentError(`constant expression uses ${ins.op}, so its value is not a number`);
    }
  }
  const [result] = stack;
  if (stack.length !== 1 || result === undefined) {
    throw new InvalidArgumentError(`constant expression leaves ${stack.length} values, expected 1`);
  }
  return result;
}

/** Function indices an expression refers to with `ref.func`. */
export function referencedFunctions(expr: ConstExpr): number[] {
  const out: number[] = [];
  for (const ins of expr.instrs) if (ins.op === 'ref.func') out.push(ins.functionIndex);
  return out;
}
