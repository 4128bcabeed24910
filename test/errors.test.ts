/**
 * Every error class: its code, name and message shape, and `instanceof` that works across two
 * installed copies of cowpool (a second copy brands its errors with the same registry symbol).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as errors from '../src/errors.ts';
import { SqliteMemoryLimitError } from '../src/sqlite/errors.ts';
import { ERROR_CASES as cases } from './support/error-cases.ts';

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
  QueueFullError: 'CapacityError',
  ThreadExitedError: 'HostError',
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
