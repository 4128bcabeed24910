// The module layer over real toolchain output: a clang-built WASI program (compiled here when
// clang is installed), wabt's own emscripten-built binary, and any example binaries on the system.
// No foreign binary is committed; sources missing on this machine are skipped with the reason.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import wabtInit from 'wabt';
import { readModule } from '../src/module/reader.ts';
import { analyzeModule } from '../src/module/analysis.ts';
import { rewriteModule } from '../src/module/rewrite.ts';
import { evaluateDataImage, renderImage } from '../src/module/image.ts';
import { walkInstructions } from '../src/module/instructions.ts';

/** Reads, analyzes and rewrites a real module; checks what must hold for any valid module. */
function exercise(label: string, bytes: Uint8Array): void {
  assert.ok(WebAssembly.validate(bytes), `${label} is valid for V8`);
  const info = readModule(bytes);
  let instructions = 0;
  for (const body of info.code) instructions += walkInstructions(bytes, body.instructions);
  assert.ok(instructions >= info.code.length, label);
  const analysis = analyzeModule(info, bytes);
  assert.deepEqual(rewriteModule(bytes, info, {}), bytes, `${label}: empty rewrite is the identity`);
  if (analysis.memory !== null && analysis.poolable.ok) {
    const out = rewriteModule(bytes, info, {
      importMemory: { module: 'cowpool', name: 'memory' },
      stripActiveData: true,
      exportGlobals: { prefix: 'cowpool:global:' },
      exportTables: { prefix: 'cowpool:table:' },
    });
    assert.ok(WebAssembly.validate(out), `${label}: rewritten module validates`);
  }
}

/** Where a clang-built guest would be compiled, or why it cannot be. */
function compileC(source: string): Uint8Array | string {
  const dir = mkdtempSync(join(tmpdir(), 'cowpool-module-'));
  try {
    writeFileSync(join(dir, 'guest.c'), source);
    execFileSync('clang', ['--target=wasm32-wasi', '--sysroot=/usr', '-O2', '-o', join(dir, 'guest.wasm'), join(dir, 'guest.c')], {
      stdio: 'pipe',
    });
    return new Uint8Array(readFileSync(join(dir, 'guest.wasm')));
  } catch (err) {
    return `clang --target=wasm32-wasi unavailable: ${(err as Error).message.split('\n')[0]}`;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const GUEST = compileC(`
#include <stdio.h>
#include <string.h>
static char greeting[64] = "hello from wasm";
static int counter = 41;
int main(void) {
  char local[32];
  counter++;
  strcat(greeting, "!");
  snprintf(local, sizeof local, "%d", counter);
  printf("%s %s\\n", greeting, local);
  return 0;
}
`);

/** A minimal WASI preview1 host that captures stdout from whichever memory `memory()` returns. */
function wasiHost(memory: () => WebAssembly.Memory): { imports: WebAssembly.Imports; stdout: () => string } {
  let out = '';
  const fns: Record<string, (...args: number[]) => number> = {
    fd_write(fd, iovs, count, written) {
      const view = new DataView(memory().buffer);
      let total = 0;
      for (let i = 0; i < count; i++) {
        const ptr = view.getUint32(iovs + i * 8, true);
        const len = view.getUint32(iovs + i * 8 + 4, true);
        if (fd === 1) out += new TextDecoder().decode(new Uint8Array(memory().buffer, ptr, len));
        total += len;
      }
      view.setUint32(written, total, true);
      return 0;
    },
    proc_exit(code) {
      throw new Error(`exit ${code}`);
    },
  };
  const wasi = new Proxy(fns, { get: (target, key: string) => target[key] ?? (() => 0) });
  return { imports: { wasi_snapshot_preview1: wasi }, stdout: () => out };
}

test('clang WASI guest: pooled re-instantiation and instance reuse both behave like a fresh instance', (t) => {
  if (typeof GUEST === 'string') {
    t.skip(GUEST);
    return;
  }
  exercise('clang guest', GUEST);
  const info = readModule(GUEST);
  const analysis = analyzeModule(info, GUEST);
  assert.deepEqual(analysis.poolable, { ok: true });
  const sp = analysis.globals.find((g) => !g.imported && g.mutable && g.type === 'i32');
  assert.ok(sp !== undefined && sp.exportNames.length === 0 && sp.written, '__stack_pointer: internal, mutable, written');

  // Fresh original.
  const fresh = wasiHost(() => original.exports['memory'] as WebAssembly.Memory);
  const original = new WebAssembly.Instance(new WebAssembly.Module(GUEST), fresh.imports);
  (original.exports['_start'] as () => void)();
  assert.equal(fresh.stdout(), 'hello from wasm! 42\n');

  // Rewritten for the pool: imported memory pre-filled with the image, internal globals exported.
  const rewritten = new WebAssembly.Module(
    rewriteModule(GUEST, info, {
      importMemory: { module: 'cowpool', name: 'memory' },
      stripActiveData: true,
      exportGlobals: { prefix: 'cowpool:global:' },
    }),
  );
  const image = evaluateDataImage(info, GUEST, () => undefined);
  const span = renderImage(image);
  const memory = new WebAssembly.Memory({ initial: image.minPages, ...(image.maxPages !== undefined ? { maximum: image.maxPages } : {}) });
  const reset = (): void => {
    const bytes = new Uint8Array(memory.buffer);
    bytes.fill(0);
    bytes.set(span.bytes, span.start);
  };
  reset();
  const pooled = wasiHost(() => memory);
  const instance = new WebAssembly.Instance(rewritten, { ...pooled.imports, cowpool: { memory } });
  const stackPointer = instance.exports[`cowpool:global:${sp.index}`] as WebAssembly.Global;
  const captured = stackPointer.value;
  const start = instance.exports['_start'] as () => void;
  start();
  assert.equal(pooled.stdout(), 'hello from wasm! 42\n');
  // Reuse: restore memory and globals, run again: the same output as a fresh instance.
  reset();
  stackPointer.value = captured;
  start();
  assert.equal(pooled.stdout(), 'hello from wasm! 42\n'.repeat(2));
  // Without the memory reset the second run would see the first run's state.
  start();
  assert.notEqual(pooled.stdout(), 'hello from wasm! 42\n'.repeat(3));
});

test("wabt's own emscripten-built binary", async (t) => {
  const captured: Uint8Array[] = [];
  const instantiate = WebAssembly.instantiate;
  const spy = (source: unknown, imports?: WebAssembly.Imports): Promise<unknown> => {
    if (source instanceof Uint8Array || source instanceof ArrayBuffer)
      captured.push(new Uint8Array(source instanceof ArrayBuffer ? source : source.slice()));
    return (instantiate as (s: unknown, i?: WebAssembly.Imports) => Promise<unknown>)(source, imports);
  };
  (WebAssembly as { instantiate: unknown }).instantiate = spy;
  try {
    await wabtInit();
  } finally {
    (WebAssembly as { instantiate: unknown }).instantiate = instantiate;
  }
  const bytes = captured[0];
  if (bytes === undefined) {
    t.skip('wabt did not instantiate from bytes');
    return;
  }
  exercise('libwabt', bytes);
  const info = readModule(bytes);
  assert.ok(info.code.length > 1000, `libwabt has ${info.code.length} functions`);
});

test('example binaries installed on this machine', (t) => {
  const candidates = ['/usr/share/doc/wabt/examples/fac/fac.wasm'].filter((p) => existsSync(p));
  if (candidates.length === 0) {
    t.skip('no example .wasm files installed');
    return;
  }
  for (const path of candidates) exercise(path, new Uint8Array(readFileSync(path)));
});
