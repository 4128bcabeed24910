// isWasiCommand: which modules WasiHost can run, and the reason for the others.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isWasiCommand } from '../src/wasi/command.ts';
import { example, fixture, wat } from './fixtures/wasi-guests.ts';

const module = (text: string) => new WebAssembly.Module(wat(text));

test('the compiled guests are commands', () => {
  for (const m of [example('hello'), example('echo-json'), example('sqlite'), fixture('wasi-probe'), fixture('loop')]) {
    assert.deepEqual(isWasiCommand(m), { ok: true });
  }
});

test('a reactor, a missing memory and foreign imports are named', () => {
  const reactor = isWasiCommand(module('(module (memory (export "memory") 1) (func (export "_initialize")))'));
  assert.equal(reactor.ok, false);
  assert.match((reactor as { reason: string }).reason, /WASI reactor/);

  const noMemory = isWasiCommand(module('(module (func (export "_start")))'));
  assert.match((noMemory as { reason: string }).reason, /does not export its memory as "memory"/);

  const foreign = isWasiCommand(
    module(`(module
      (import "env" "now" (func (result f64)))
      (import "wasi_snapshot_preview1" "fd_write" (func (param i32 i32 i32 i32) (result i32)))
      (import "wasi_snapshot_preview1" "not_a_wasi_call" (func))
      (import "env" "memory" (memory 1))
      (func (export "_start")))`),
  );
  assert.equal(foreign.ok, false);
  assert.equal(
    (foreign as { reason: string }).reason,
    'it does not export its memory as "memory"; it imports env.now (function), ' +
      'wasi_snapshot_preview1.not_a_wasi_call (function), env.memory (memory), which WasiHost does not provide ' +
      '(it provides only wasi_snapshot_preview1 functions)',
  );
});

test('_start and memory of the wrong kind', () => {
  const result = isWasiCommand(module('(module (global (export "_start") i32 (i32.const 0)) (table (export "memory") 1 funcref))'));
  assert.match(
    (result as { reason: string }).reason,
    /exports _start as a global, not a function; it exports "memory" as a table, not a memory/,
  );
});
