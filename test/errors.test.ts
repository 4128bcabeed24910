/**
 * Every error class: its code, name and message shape, and `instanceof` that works across two
 * installed copies of cowpool (a second copy brands its errors with the same registry symbol).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as errors from '../src/errors.ts';
import { MalformedCgiResponseError } from '../src/serve/cgi.ts';
import { QuickJSError } from '../src/quickjs/errors.ts';
import { SqliteError, SqliteMemoryLimitError } from '../src/sqlite/errors.ts';

const cases: [errors.CowpoolError, string, string, RegExp][] = [
  [new errors.InvalidArgumentError('options.max is bad'), 'InvalidArgumentError', 'COWPOOL_ERR_INVALID_ARGUMENT', /^options\.max is bad$/],
  [
    new errors.SyscallError('madvise', 'EINVAL', 22, 'range not aligned'),
    'SyscallError',
    'COWPOOL_ERR_SYSCALL',
    /^madvise failed with EINVAL: range not aligned$/,
  ],
  [
    new errors.UnsupportedError('PAGEMAP_SCAN', 'ENOTTY: old kernel'),
    'UnsupportedError',
    'COWPOOL_ERR_UNSUPPORTED',
    /^PAGEMAP_SCAN is not available: ENOTTY/,
  ],
  [new errors.ClosedError('MemoryImage'), 'ClosedError', 'COWPOOL_ERR_CLOSED', /^MemoryImage was used after it was closed$/],
  [
    new errors.MalformedModuleError('code', 42, 'unknown opcode 0xff'),
    'MalformedModuleError',
    'COWPOOL_ERR_MALFORMED_MODULE',
    /unknown opcode 0xff \(section code, byte offset 42\)$/,
  ],
  [
    new errors.ModuleNotPoolableError('2 memories'),
    'ModuleNotPoolableError',
    'COWPOOL_ERR_NOT_POOLABLE',
    /^module cannot be pooled: 2 memories$/,
  ],
  [new errors.ImportMissingError('env', 'f', 'function'), 'ImportMissingError', 'COWPOOL_ERR_IMPORT_MISSING', /"env"\."f"/],
  [new errors.PoolClosedError(), 'PoolClosedError', 'COWPOOL_ERR_POOL_CLOSED', /^the pool is closed$/],
  [
    new errors.AcquireTimeoutError(20, 4),
    'AcquireTimeoutError',
    'COWPOOL_ERR_ACQUIRE_TIMEOUT',
    /within 20 ms \(all 4 in use\); raise options\.max/,
  ],
  [new errors.AbortedError(new Error('stop')), 'AbortedError', 'COWPOOL_ERR_ABORTED', /^the wait for an instance was aborted/],
  [new errors.GuestTrapError('unreachable'), 'GuestTrapError', 'COWPOOL_ERR_GUEST_TRAP', /^guest trapped: unreachable$/],
  [new errors.GuestTimeoutError(200), 'GuestTimeoutError', 'COWPOOL_ERR_GUEST_TIMEOUT', /within 200 ms/],
  [new MalformedCgiResponseError('no blank line'), 'MalformedCgiResponseError', 'COWPOOL_ERR_MALFORMED_CGI_RESPONSE', /no blank line/],
  [
    new QuickJSError('TypeError', 'x is not a function', '    at <eval> (eval.js:1)'),
    'QuickJSError',
    'COWPOOL_ERR_GUEST_EXCEPTION',
    /^TypeError: x is not a function$/,
  ],
  [
    new SqliteError(19, 'UNIQUE constraint failed: t.x'),
    'SqliteError',
    'COWPOOL_ERR_GUEST_EXCEPTION',
    /^SQLite error 19: UNIQUE constraint failed/,
  ],
  [
    new errors.GuestMemoryLimitError(1024),
    'GuestMemoryLimitError',
    'COWPOOL_ERR_GUEST_MEMORY_LIMIT',
    /limit of 1024 bytes .*raise memoryLimit/,
  ],
  [
    new SqliteMemoryLimitError(1024),
    'SqliteMemoryLimitError',
    'COWPOOL_ERR_GUEST_MEMORY_LIMIT',
    /^SQLite ran out of memory at .* 1024 bytes.*raise memoryLimit/,
  ],
  [
    new errors.GuestOutputLimitError(4096),
    'GuestOutputLimitError',
    'COWPOOL_ERR_GUEST_OUTPUT_LIMIT',
    /^guest wrote more than its output limit of 4096 bytes \(stdout and stderr together\) .*--max-output/,
  ],
  [
    new errors.NestedUseError(1, 'run()'),
    'NestedUseError',
    'COWPOOL_ERR_NESTED_USE',
    /^run\(\) was called inside a use of the same pool, .*\(options\.max is 1\), so it would wait forever;.*raise options\.max/,
  ],
  [new errors.InternalError('slot state'), 'InternalError', 'COWPOOL_ERR_INTERNAL', /^internal error \(a cowpool bug\): slot state$/],
  [
    new errors.HostFunctionError('db.query', new RangeError('no row')),
    'HostFunctionError',
    'COWPOOL_ERR_HOST_FUNCTION',
    /^host function db\.query threw RangeError: no row, and the guest did not catch it$/,
  ],
  [
    new errors.UncloneableValueError('guest', 'result.f', 'function', 'result.f is a function, which cannot be copied out of the sandbox'),
    'UncloneableValueError',
    'COWPOOL_ERR_UNCLONEABLE_VALUE',
    /^result\.f is a function/,
  ],
];

test('every error class has its code, name and message', () => {
  const codes = new Set(Object.values(errors.ErrorCodes));
  for (const [error, name, code, message] of cases) {
    assert.ok(error instanceof errors.CowpoolError, name);
    assert.ok(error instanceof Error, name);
    assert.equal(error.name, name);
    assert.equal(error.code, code);
    assert.ok(codes.has(error.code), `${code} is listed in ErrorCodes`);
    assert.match(error.message, message);
  }
  assert.deepEqual(new Set(cases.map(([error]) => error.code)), codes, 'every code has a case here');
});

/** Whose fault each class says it is: the abstract class it extends (see src/errors.ts). */
const CATEGORIES: Record<string, 'GuestLimitError' | 'GuestError' | 'CallerError' | 'CapacityError' | 'HostError'> = {
  InvalidArgumentError: 'CallerError',
  SyscallError: 'HostError',
  UnsupportedError: 'HostError',
  ClosedError: 'CallerError',
  MalformedModuleError: 'CallerError',
  ModuleNotPoolableError: 'CallerError',
  ImportMissingError: 'CallerError',
  PoolClosedError: 'CallerError',
  AcquireTimeoutError: 'CapacityError',
  AbortedError: 'CallerError',
  GuestTrapError: 'GuestError',
  GuestTimeoutError: 'GuestLimitError',
  MalformedCgiResponseError: 'GuestError',
  QuickJSError: 'GuestError',
  SqliteError: 'GuestError',
  GuestMemoryLimitError: 'GuestLimitError',
  SqliteMemoryLimitError: 'GuestLimitError',
  GuestOutputLimitError: 'GuestLimitError',
  NestedUseError: 'CallerError',
  HostFunctionError: 'HostError',
  UncloneableValueError: 'HostError',
  InternalError: 'HostError',
};

test('every error class says whose fault it was: exactly one of guest, guest limit, caller, capacity, host', () => {
  const bases = {
    GuestError: errors.GuestError,
    GuestLimitError: errors.GuestLimitError,
    CallerError: errors.CallerError,
    CapacityError: errors.CapacityError,
    HostError: errors.HostError,
  };
  for (const [error, name] of cases) {
    const category = CATEGORIES[name];
    assert.ok(category, `${name} has a category in this table`);
    const matching = Object.entries(bases)
      .filter(([, base]) => error instanceof base)
      .map(([base]) => base);
    // A limit is also a guest error; every other class is under one base only.
    const expected = category === 'GuestLimitError' ? ['GuestError', 'GuestLimitError'] : [category];
    assert.deepEqual(matching, expected, name);
  }
});

test('an error from another copy of cowpool is still placed by its base class', async () => {
  const other = (await import(`../src/errors.ts?bases=${Date.now()}`)) as typeof errors;
  assert.ok(new other.GuestTimeoutError(5) instanceof errors.GuestLimitError);
  assert.ok(new other.GuestTimeoutError(5) instanceof errors.GuestError);
  assert.ok(new other.InvalidArgumentError('x') instanceof errors.CallerError);
  assert.ok(!(new other.InvalidArgumentError('x') instanceof errors.GuestError));
  assert.ok(new other.InternalError('x') instanceof errors.HostError);
  assert.ok(new other.AcquireTimeoutError(1, 1) instanceof errors.CapacityError);
});

test("the sandboxes share one memory-limit error: SQLite's is a GuestMemoryLimitError under its own name", () => {
  const error = new SqliteMemoryLimitError(4096);
  assert.ok(error instanceof errors.GuestMemoryLimitError);
  assert.equal(error.limitBytes, 4096);
  assert.deepEqual(error.logs, []);
});

test('instanceof works across two copies of the module', async () => {
  // A second copy: the same source loaded again under another URL, as a second install would be.
  const other = (await import(`../src/errors.ts?copy=${Date.now()}`)) as typeof errors;
  assert.notEqual(other.CowpoolError, errors.CowpoolError);
  const foreign = new other.GuestTrapError('x');
  assert.ok(foreign instanceof errors.CowpoolError);
  assert.ok(foreign instanceof errors.GuestTrapError);
  assert.ok(!(foreign instanceof errors.GuestTimeoutError));
  assert.ok(!(new Error('plain') instanceof errors.CowpoolError));
  // A subclass from the other copy is an instance of the class it extends here.
  class ForeignSqliteMemoryLimitError extends other.GuestMemoryLimitError {}
  Object.defineProperty(ForeignSqliteMemoryLimitError, 'name', { value: 'SqliteMemoryLimitError' });
  const foreignLimit = new ForeignSqliteMemoryLimitError(1024);
  assert.ok(foreignLimit instanceof errors.GuestMemoryLimitError);
  assert.ok(foreignLimit instanceof SqliteMemoryLimitError);
  assert.ok(!(foreignLimit instanceof errors.GuestTrapError));
});
