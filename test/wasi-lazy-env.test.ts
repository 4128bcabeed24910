// An environment given as a function is built only if the guest reads it, and checked when it is.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { WasiHost } from '../src/wasi/wasi-host.ts';
import { example, fixture, runGuest } from './fixtures/wasi-guests.ts';

test('env() is called only by a guest that reads its environment', () => {
  const host = new WasiHost();
  let calls = 0;
  const env = () => {
    calls++;
    return ['A=1', 'B=two'];
  };
  assert.equal(runGuest(host, example('hello'), { env }).stdout, 'Content-Type: text/plain\n\nHello, world!\n');
  assert.equal(calls, 0, 'hello world never reads its environment');
  assert.equal(runGuest(host, fixture('env'), { env }).stdout, 'Content-Type: text/plain\n\nA=1\nB=two\n');
  assert.equal(calls, 1, 'built once per use');
});

test('a malformed env() result ends the use with a clear error, and the host goes on', () => {
  const host = new WasiHost();
  assert.throws(() => runGuest(host, fixture('env'), { env: () => ['no equals sign'] }), {
    code: 'COWPOOL_ERR_INVALID_ARGUMENT',
    message: "context.env[0] must be a 'KEY=value' string (non-empty key, no NUL)",
  });
  assert.equal(runGuest(host, fixture('env'), { env: ['OK=1'] }).stdout, 'Content-Type: text/plain\n\nOK=1\n');
});
