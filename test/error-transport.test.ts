/**
 * Errors thrown on a worker thread arrive on the main thread as the same class, code, name,
 * message, stack and fields (error-transport.ts), for every class of the error table, through a
 * real worker and real structured clone.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import * as errors from '../src/errors.ts';
import { deserializeError, knownErrorClasses, type SerializedError } from '../src/error-transport.ts';
import { spawnWorker } from '../src/threads/spawn.ts';
import { ERROR_CASES, ERROR_CLASSES_ELSEWHERE } from './support/error-cases.ts';
import { QuickJSError } from '../src/quickjs/errors.ts';
import { SqliteMemoryLimitError } from '../src/sqlite/errors.ts';

type Posted = { data: SerializedError; stack: string | undefined }[];

async function fromWorker(): Promise<Posted> {
  const worker = spawnWorker(new URL('./fixtures/threads/error-cases-worker.ts', import.meta.url));
  const [posted] = (await once(worker, 'message')) as [Posted];
  await worker.terminate();
  return posted;
}

const posted = await fromWorker();

/** An error's own properties but its stack (which says where it was made), with their enumerability. */
function ownFields(error: Error): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const key of Object.getOwnPropertyNames(error)) {
    if (key === 'stack') continue;
    const value = (error as unknown as Record<string, unknown>)[key];
    out[key] = {
      value: value instanceof Error ? ownFields(value) : value,
      enumerable: Object.getOwnPropertyDescriptor(error, key)!.enumerable,
    };
  }
  return out;
}

test('every cowpool error class arrives as itself, with its code, message, stack and fields', () => {
  const known = knownErrorClasses(ERROR_CLASSES_ELSEWHERE);
  for (const [index, [original, name, code, message]] of ERROR_CASES.entries()) {
    const { data, stack } = posted[index]!;
    const received = deserializeError(data, known) as errors.CowpoolError;
    assert.equal(Object.getPrototypeOf(received), Object.getPrototypeOf(original), `${name}: the same class`);
    assert.ok(received instanceof errors.CowpoolError, name);
    assert.equal(received.name, name);
    assert.equal(received.code, code);
    assert.match(received.message, message);
    assert.equal(received.stack, stack, `${name}: the worker's stack`);
    assert.deepStrictEqual(ownFields(received), ownFields(original), `${name}: fields, message and cause`);
    assert.deepEqual(Object.keys(received), Object.keys(original), `${name}: the same enumerable fields`);
  }
});

test("a receiver that does not know a sandbox's class rebuilds its nearest known ancestor, still matched by instanceof", () => {
  const byName = (name: string) => posted[ERROR_CASES.findIndex(([, n]) => n === name)]!.data;
  const quickjs = deserializeError(byName('QuickJSError')) as QuickJSError;
  assert.equal(Object.getPrototypeOf(quickjs), errors.GuestError.prototype, 'whose fault it was survives');
  assert.ok(quickjs instanceof QuickJSError);
  assert.equal(quickjs.code, 'COWPOOL_ERR_GUEST_EXCEPTION');
  assert.equal(quickjs.guestName, 'TypeError');
  const sqlite = deserializeError(byName('SqliteMemoryLimitError')) as SqliteMemoryLimitError;
  assert.equal(Object.getPrototypeOf(sqlite), errors.GuestMemoryLimitError.prototype);
  assert.ok(sqlite instanceof SqliteMemoryLimitError);
  assert.ok(sqlite instanceof errors.GuestMemoryLimitError);
  assert.equal(sqlite.name, 'SqliteMemoryLimitError');
  assert.equal(sqlite.limitBytes, 1024);
});

test('other errors keep their class when standard, their name, message, stack and cloneable fields', () => {
  const rest = posted.slice(ERROR_CASES.length).map(({ data, stack }) => ({ value: deserializeError(data), stack }));
  const [typeError, app, trap, aggregate, text, object] = rest;

  const t = typeError!.value as TypeError;
  assert.equal(Object.getPrototypeOf(t), TypeError.prototype);
  assert.equal(t.message, 'x is not a function');
  assert.equal(t.stack, typeError!.stack);
  assert.ok(t.cause instanceof RangeError);
  assert.equal((t.cause as Error).message, 'too far');

  const a = app!.value as Error & { status: number; handler: unknown };
  assert.equal(Object.getPrototypeOf(a), Error.prototype);
  assert.equal(a.name, 'AppError');
  assert.equal(a.message, 'teapot');
  assert.equal(a.status, 418);
  assert.match(String(a.handler), /^\[function /, 'a function field arrives as a description');
  assert.match(a.stack ?? '', /^AppError: teapot/);

  const r = trap!.value as WebAssembly.RuntimeError;
  assert.ok(r instanceof WebAssembly.RuntimeError);
  assert.match(r.message, /unreachable/);

  const g = aggregate!.value as AggregateError;
  assert.ok(g instanceof AggregateError);
  assert.equal(g.message, 'both failed');
  assert.equal((g.errors[0] as Error).message, 'one');
  assert.equal(g.errors[1], 'two');

  assert.equal(text!.value, 'a thrown string');
  assert.equal(object!.value, '[object Object]', 'a value structured clone cannot carry arrives as its string');
});
