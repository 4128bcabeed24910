/**
 * cowpool/quickjs values beyond JSON, both ways: undefined, NaN and the infinities, -0, BigInt,
 * Date, RegExp, Map, Set, Error, ArrayBuffer and typed arrays cross as themselves, into the guest
 * and out of it, through `call`'s arguments, results and host functions; what cannot cross is the
 * host's UncloneableValueError that says where, never the guest's exception. A property test
 * checks every round trip against the value itself and against a fresh sandbox.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { QuickJSError, QuickJSSandbox, UncloneableValueError } from '../src/quickjs/index.ts';

const SETUP = `
  function identity(value) { return value; }
  function viaHost(value) { return echo(value); }
  function describe(value) {
    return [typeof value, Object.prototype.toString.call(value), value instanceof Map ? [...value.keys()] : null];
  }
`;
const functions = { echo: (value: unknown) => value };

let sandbox: QuickJSSandbox;
let fresh: QuickJSSandbox;
before(async () => {
  sandbox = await QuickJSSandbox.create({ setup: SETUP, functions });
  // Never used before the property test: what a pool's used context gives must be what it gives.
  fresh = await QuickJSSandbox.create({ setup: SETUP, functions });
});
after(async () => {
  await sandbox.close();
  await fresh.close();
});

const leaf = fc.oneof(
  fc.constant(undefined),
  fc.constant(null),
  fc.boolean(),
  fc.double(),
  fc.constantFrom(NaN, -0, Infinity, -Infinity, Number.MAX_VALUE, Number.MIN_VALUE),
  fc.string({ unit: 'binary' }),
  fc.constantFrom('\ud800', 'a\udfffb', '\u0000', '"\\u0000"'),
  fc.bigInt(),
  fc.date(),
  fc.constantFrom(/a+b/g, /^x$/imsu, new RegExp('[\\]x]', 'y')),
  fc.uint8Array({ maxLength: 16 }),
  fc.uint8Array({ maxLength: 16 }).map((bytes) => bytes.slice().buffer),
  fc.float64Array({ maxLength: 4 }),
  fc.int32Array({ maxLength: 4 }),
  fc.bigInt64Array({ maxLength: 2 }),
  fc.string().map((message) => new TypeError(message)),
  fc.string().map((message) => new Error(message)),
);

const { value } = fc.letrec((tie) => ({
  value: fc.oneof({ depthSize: 'small', withCrossShrink: true }, leaf, tie('array'), tie('object'), tie('map'), tie('set')),
  array: fc.array(tie('value'), { maxLength: 4 }),
  object: fc.dictionary(fc.oneof(fc.string(), fc.constantFrom('__proto__', '\u0000', 'constructor', '')), tie('value'), {
    maxKeys: 4,
    noNullPrototype: true,
  }),
  map: fc.array(fc.tuple(tie('value'), tie('value')), { maxLength: 3 }).map((entries) => new Map(entries)),
  set: fc.array(tie('value'), { maxLength: 3 }).map((items) => new Set(items)),
}));

describe('round trips', () => {
  test('every supported value crosses both ways as itself, and as through a fresh sandbox', () => {
    fc.assert(
      fc.property(value, (v) => {
        // host → guest → host (call's argument, then its result)
        const back = sandbox.callSync('identity', [v]);
        assert.deepStrictEqual(back, v, 'identity');
        // host → guest → host function → guest → host: all four directions
        const round = sandbox.callSync('viaHost', [v]);
        assert.deepStrictEqual(round, v, 'through a host function');
        assert.deepStrictEqual(fresh.callSync('viaHost', [v]), round, 'a fresh sandbox gives the same');
      }),
      { numRuns: 150 },
    );
  });

  test('values the guest makes come out as themselves', async () => {
    const out = await sandbox.eval<Record<string, unknown>>(`({
      u: undefined, n: null, nan: NaN, inf: -Infinity, negZero: -0, big: -(2n ** 100n),
      date: new Date(Date.UTC(2024, 1, 29)), invalid: new Date(NaN), re: /x(y)/giu,
      map: new Map([[1, 'one'], [{ k: 1 }, [2]]]), set: new Set(['a', 1n]),
      bytes: new Uint8Array([1, 2, 3]), view: new Uint16Array(new Uint8Array([0, 1, 2, 3, 4, 5, 6, 7]).buffer, 2, 2),
      floats: new Float32Array([0.5, -1]), data: new DataView(new Uint8Array([9, 8, 7]).buffer, 1),
      buffer: new Uint8Array([5, 6]).buffer, error: new RangeError('out of range'),
      holes: [1, , 3], tagged: { '\\u0000': 'not a tag', x: 1 }, proto: JSON.parse('{"__proto__": {"polluted": 1}}'),
    })`);
    assert.equal(out.u, undefined);
    assert.ok('u' in out, 'an undefined property is kept');
    assert.equal(out.n, null);
    assert.ok(Number.isNaN(out.nan));
    assert.equal(out.inf, -Infinity);
    assert.ok(Object.is(out.negZero, -0));
    assert.equal(out.big, -(2n ** 100n));
    assert.deepEqual(out.date, new Date(Date.UTC(2024, 1, 29)));
    assert.ok(out.invalid instanceof Date && Number.isNaN(out.invalid.getTime()));
    assert.deepEqual(out.re, /x(y)/giu);
    assert.deepEqual(
      out.map,
      new Map<unknown, unknown>([
        [1, 'one'],
        [{ k: 1 }, [2]],
      ]),
    );
    assert.deepEqual(out.set, new Set(['a', 1n]));
    assert.deepEqual(out.bytes, new Uint8Array([1, 2, 3]));
    assert.deepEqual(out.view, new Uint16Array(new Uint8Array([2, 3, 4, 5]).buffer), 'a view crosses with its own bytes only');
    assert.deepEqual(out.floats, new Float32Array([0.5, -1]));
    assert.deepEqual(out.data, new DataView(new Uint8Array([8, 7]).buffer));
    assert.deepEqual(out.buffer, new Uint8Array([5, 6]).buffer);
    assert.ok(out.error instanceof RangeError);
    assert.equal((out.error as Error).message, 'out of range');
    assert.match((out.error as Error).stack ?? '', /eval\.js/, "the guest's stack comes along");
    assert.deepEqual(out.holes, [1, undefined, 3]);
    assert.deepEqual(out.tagged, { '\u0000': 'not a tag', x: 1 });
    assert.ok(Object.hasOwn(out.proto as object, '__proto__'), '__proto__ stays an own key');
    assert.equal(({} as Record<string, unknown>).polluted, undefined, 'nothing reaches the host prototypes');
  });

  test('a getter that calls a host function while the result is copied leaves the result whole', () => {
    assert.deepEqual(
      sandbox.evalSync('({ a: new Uint8Array([1]), get b() { return echo(new Uint8Array([2, 3])) }, c: new Uint8Array([4]) })'),
      { a: new Uint8Array([1]), b: new Uint8Array([2, 3]), c: new Uint8Array([4]) },
    );
  });

  test('the guest receives the host values as its own classes', () => {
    const seen = sandbox.callSync('describe', [new Map([[1n, new Date(0)]])]);
    assert.deepEqual(seen, ['object', '[object Map]', [1n]]);
    assert.deepEqual(sandbox.callSync('describe', [new Uint8Array(2)]), ['object', '[object Uint8Array]', null]);
    assert.deepEqual(sandbox.callSync('describe', [10n]), ['bigint', '[object BigInt]', null]);
    assert.deepEqual(
      sandbox.callSync('describe', [Buffer.from('hi')]),
      ['object', '[object Uint8Array]', null],
      'a Buffer is a Uint8Array there',
    );
  });

  test('a class instance crosses as a plain object of its own properties, as structured clone copies it', () => {
    assert.deepEqual(sandbox.evalSync('class P { constructor() { this.x = 1 } get y() { return 2 } }; new P()'), { x: 1 });
    assert.deepEqual(
      sandbox.callSync('identity', [
        new (class {
          a = 1;
        })(),
      ]),
      { a: 1 },
    );
  });
});

describe('what cannot cross', () => {
  test("the guest's function, symbol or cycle is the host's UncloneableValueError, with where it was", () => {
    const cases: [string, string, string][] = [
      ['({ handler: { onClick() {} } })', 'result.handler.onClick', 'function'],
      ['[1, Symbol("s")]', 'result[1]', 'symbol'],
      ['const a = [1]; a.push(a); a', 'result[1]', 'cycle'],
      ['const m = new Map(); m.set("self", m); m', 'result.values()[0]', 'cycle'],
      ['({ "a b": [() => 1] })', 'result["a b"][0]', 'function'],
    ];
    for (const [code, path, kind] of cases) {
      assert.throws(
        () => sandbox.evalSync(code),
        (e: unknown) =>
          e instanceof UncloneableValueError &&
          !(e instanceof QuickJSError) &&
          e.code === 'COWPOOL_ERR_UNCLONEABLE_VALUE' &&
          e.from === 'guest' &&
          e.path === path &&
          e.kind === kind &&
          /cannot be copied out of the sandbox/.test(e.message),
        code,
      );
    }
  });

  test("the host's is refused before anything runs", () => {
    const uses = sandbox.stats().pool.uses;
    const cyclic: unknown[] = [];
    cyclic.push(cyclic);
    for (const [args, path, kind] of [
      [[{ f: () => 1 }], 'args[0].f', 'function'],
      [[Symbol('s')], 'args[0]', 'symbol'],
      [[cyclic], 'args[0][0]', 'cycle'],
    ] as const) {
      assert.throws(
        () => sandbox.callSync('identity', args as unknown as unknown[]),
        (e: unknown) => e instanceof UncloneableValueError && e.from === 'host' && e.path === path && e.kind === kind,
      );
    }
    assert.equal(sandbox.stats().pool.uses, uses, 'no use ran');
  });

  test("a getter that throws while the result is copied is the guest's own exception", () => {
    assert.throws(
      () => sandbox.evalSync('({ get x() { throw new Error("getter") } })'),
      (e: unknown) => e instanceof QuickJSError && e.guestMessage === 'getter',
    );
  });
});
