/**
 * The host side of user-defined functions: registers them with the database (once, in the image)
 * and answers SQLite's calls during a use. Every slot of `function-slots.ts` calls one dispatcher
 * with its code (`2i` for function i's call or step, `2i + 1` for its final); the dispatcher reads
 * the arguments, calls the JavaScript, and sets the result, or reports what the JavaScript threw as
 * the function's error (the use then fails with a `SqliteError` whose `cause` it is).
 *
 * An aggregate's accumulator is kept in the use's state by the address SQLite gives its group
 * (`sqlite3_aggregate_context`), as sql.js does; it goes with the use.
 */
import { InternalError } from '../errors.js';
import { writeCString } from '../emscripten/c-strings.js';
import { ByteWriter } from '../module/writer.js';
import { SQLITE_DETERMINISTIC, SQLITE_OK, SQLITE_UTF8, type SqliteExports } from './abi.js';
import { FUNCTION_CALL_TABLE } from './function-slots.js';
import type { FunctionSpec } from './functions.js';
import type { UseState } from './imports.js';
import { argumentValue, setResult, type ReadOptions, type SqlValue } from './values.js';

/** The use being served. */
interface Current {
  readonly x: SqliteExports;
  readonly memory: WebAssembly.Memory;
  readonly state: UseState;
  readonly read: ReadOptions;
}

/** The declared functions of a sandbox, and the dispatcher that runs them; see the module comment. */
export class FunctionCalls {
  readonly #specs: readonly FunctionSpec[];
  /** The dispatcher as a wasm function (a funcref table takes no plain JS function); made when first needed. */
  #dispatcher: unknown;
  #current: Current | undefined;

  constructor(specs: readonly FunctionSpec[]) {
    this.#specs = specs;
  }

  /** How many functions (each needs a slot). */
  get count(): number {
    return this.#specs.length;
  }

  /** Registers every function with the database `db`; slot i's `call` is at `first + 2i` of the function table. */
  register(x: SqliteExports, memory: WebAssembly.Memory, db: number, first: number): void {
    this.#specs.forEach((spec, i) => {
      const name = writeCString(memory, x.malloc, spec.name);
      const flags = SQLITE_UTF8 | (spec.deterministic ? SQLITE_DETERMINISTIC : 0);
      const call = first + 2 * i;
      const rc = spec.aggregate
        ? x.sqlite3_create_function_v2(db, name.ptr, spec.arity, flags, 0, 0, call, call + 1, 0)
        : x.sqlite3_create_function_v2(db, name.ptr, spec.arity, flags, 0, call, 0, 0, 0);
      if (rc !== SQLITE_OK) throw new InternalError(`SQLite refused to register the function ${spec.name} (result code ${rc})`);
    });
  }

  /**
   * Runs `body` (one use on `instance`) with the functions answering for it. The dispatcher is put
   * into the instance's call table here, at every use: the pool restores the table after each.
   */
  during<T>(instance: WebAssembly.Instance, use: Current, body: () => T): T {
    this.#dispatcher ??= wasmFunction((code, ctx, argc, argv) => this.#dispatch(code, ctx, argc, argv));
    (instance.exports[FUNCTION_CALL_TABLE] as WebAssembly.Table).set(0, this.#dispatcher);
    const outer = this.#current;
    this.#current = use;
    try {
      return body();
    } finally {
      this.#current = outer;
    }
  }

  /** Empties `instance`'s call table (the image must not hold a host function). */
  detach(instance: WebAssembly.Instance): void {
    (instance.exports[FUNCTION_CALL_TABLE] as WebAssembly.Table).set(0, null);
  }

  #dispatch(code: number, ctx: number, argc: number, argv: number): void {
    const use = this.#current;
    const spec = this.#specs[code >> 1];
    if (use === undefined || spec === undefined) throw new InternalError(`SQLite called function slot ${code} outside a use`);
    const { x, memory, state, read } = use;
    try {
      let result: unknown;
      if (code & 1) {
        // final: a group with no row never stepped (no context), and starts from `start`.
        const group = x.sqlite3_aggregate_context(ctx, 0);
        const accumulator = group !== 0 && state.aggregates.has(group) ? state.aggregates.get(group) : spec.aggregate!.start();
        state.aggregates.delete(group);
        result = spec.aggregate!.result(accumulator);
      } else {
        const args: SqlValue[] = [];
        const words = new Uint32Array(memory.buffer, argv, argc);
        for (let i = 0; i < argc; i++) args.push(argumentValue(x, memory, words[i]!, read));
        if (spec.scalar) result = spec.scalar(...args);
        else {
          const group = x.sqlite3_aggregate_context(ctx, 1);
          if (group === 0) throw new Error('no memory for the aggregate');
          const accumulator = state.aggregates.has(group) ? state.aggregates.get(group) : spec.aggregate!.start();
          state.aggregates.set(group, spec.aggregate!.step(accumulator, ...args));
          return;
        }
      }
      const refused = setResult(x, memory, ctx, result);
      if (refused !== undefined) throw new TypeError(refused);
    } catch (err) {
      state.functionError = err;
      const message = writeCString(memory, x.malloc, `${spec.name}: ${err instanceof Error ? err.message : String(err)}`);
      x.sqlite3_result_error(ctx, message.ptr, message.length);
    }
  }
}

/**
 * `(module (import "h" "f" (func (param i32 i32 i32 i32))) (export "f" (func 0)))` over `fn`:
 * re-exporting an imported JS function yields a wasm function object, which a table accepts.
 */
function wasmFunction(fn: (code: number, ctx: number, argc: number, argv: number) => void): unknown {
  trampolineModule ??= new WebAssembly.Module(
    new ByteWriter()
      .bytes(new Uint8Array([0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00]))
      .section(
        1,
        new ByteWriter()
          .u32(1)
          .u8(0x60)
          .u32(4)
          .bytes(new Uint8Array([0x7f, 0x7f, 0x7f, 0x7f]))
          .u32(0),
      )
      .section(2, new ByteWriter().u32(1).name('h').name('f').u8(0x00).u32(0))
      .section(7, new ByteWriter().u32(1).name('f').u8(0x00).u32(0))
      .finish()
      .slice(),
  );
  return new WebAssembly.Instance(trampolineModule, { h: { f: fn } }).exports.f;
}
let trampolineModule: WebAssembly.Module | undefined;
