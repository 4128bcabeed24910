/**
 * The command line's conventions, for every command: `--help` prints the command's usage and exits
 * 0 (whatever else is on the line), the help says what a bare number means, an unknown option is
 * named with the closest known one, a failure names the command and what failed, and a value with
 * an unquoted space is explained. Most run `main()` in this process (it returns the exit code);
 * one runs the bin as a user does, to see the process's own exit code.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { main } from '../src/cli/main.ts';

/** Runs the CLI in this process; what it printed, and its exit code. */
async function cli(...argv: string[]): Promise<{ code: number; out: string; err: string }> {
  const out: string[] = [];
  const err: string[] = [];
  const { log, error } = console;
  console.log = (...args: unknown[]) => void out.push(args.join(' '));
  console.error = (...args: unknown[]) => void err.push(args.join(' '));
  try {
    const code = await main(argv);
    return { code, out: out.join('\n'), err: err.join('\n') };
  } finally {
    Object.assign(console, { log, error });
  }
}

const HELP: [string[], RegExp][] = [
  [['--help'], /cowpool serve <app\.wasm>/],
  [['-h'], /cowpool serve <app\.wasm>/],
  [['help'], /cowpool serve <app\.wasm>/],
  [['serve', '--help'], /^Usage: cowpool serve <app\.wasm> \[options\]/],
  [['serve', '-h'], /^Usage: cowpool serve <app\.wasm> \[options\]/],
  [['help', 'serve'], /^Usage: cowpool serve <app\.wasm> \[options\]/],
  [['serve', 'examples/nope.wasm', '--prot', '1', '--help'], /^Usage: cowpool serve /],
  [['inspect', '--help'], /^Usage: cowpool inspect <module\.wasm>/],
  [['quickjs', '--help'], /^Usage: cowpool quickjs serve \[setup\.js\]/],
  [['quickjs', 'serve', '--help'], /^Usage: cowpool quickjs serve \[setup\.js\]/],
  [['help', 'quickjs', 'serve'], /^Usage: cowpool quickjs serve \[setup\.js\]/],
  [['warm', '--help'], /^Usage: cowpool warm <app\.wasm> \| quickjs/],
  [['help', 'warm'], /^Usage: cowpool warm /],
];

for (const [argv, usage] of HELP) {
  test(`cowpool ${argv.join(' ')} prints the usage and exits 0`, async () => {
    const { code, out, err } = await cli(...argv);
    assert.equal(err, '');
    assert.equal(code, 0);
    assert.match(out, usage);
  });
}

test('the bin exits 0 for serve --help, as a process', () => {
  const child = spawnSync(process.execPath, ['bin/cowpool.js', 'serve', '--help'], { encoding: 'utf8' });
  assert.equal(child.status, 0, child.stderr);
  assert.match(child.stdout, /^Usage: cowpool serve/);
});

test('the help says what a bare number means: --timeout 10 is 10 ms, --max-body 10 is 10 bytes', async () => {
  for (const argv of [
    ['serve', '--help'],
    ['quickjs', 'serve', '--help'],
  ]) {
    const { out } = await cli(...argv);
    assert.match(out, /a bare number is milliseconds: --timeout 10 is 10 ms/);
    assert.match(out, /a bare number is bytes/);
  }
});

test('an unknown option is named with the closest known one, exit 2', async () => {
  const serve = await cli('serve', 'examples/hello.wasm', '--prot', '8080');
  assert.equal(serve.code, 2);
  assert.equal(serve.err, 'cowpool serve: unknown option --prot; did you mean --port? (cowpool serve --help lists the options)');
  const quickjs = await cli('quickjs', 'serve', '--memory-limt', '1MiB');
  assert.equal(quickjs.code, 2);
  assert.match(quickjs.err, /^cowpool quickjs serve: unknown option --memory-limt; did you mean --memory-limit\?/);
  const inspect = await cli('inspect', 'x.wasm', '--verbose');
  assert.match(inspect.err, /^cowpool inspect: unknown option --verbose \(cowpool inspect --help lists the options\)$/);
});

test('a failure names the command and what failed', async () => {
  const missing = await cli('serve', 'examples/nope.wasm');
  assert.equal(missing.code, 1);
  assert.equal(missing.err, 'cowpool serve: cannot read examples/nope.wasm: no such file');
  const inspect = await cli('inspect', 'examples/nope.wasm');
  assert.equal(inspect.err, 'cowpool inspect: cannot read examples/nope.wasm: no such file');
  const notWasm = await cli('inspect', 'README.md');
  assert.equal(notWasm.code, 2);
  assert.match(notWasm.err, /^cowpool inspect: README\.md is not a valid WebAssembly module: /);
  const none = await cli('serve');
  assert.equal(none.err, 'cowpool serve: expected one module path (usage: cowpool serve app.wasm [options])');
  const unknown = await cli('quickjs', 'run');
  assert.equal(unknown.err, 'cowpool quickjs: unknown command "run"; try cowpool quickjs serve [setup.js]');
});

test('--timeout 5 minutes: the unquoted space is explained; quoted, it is five minutes', async () => {
  const { code, err } = await cli('serve', 'examples/hello.wasm', '--timeout', '5', 'minutes');
  assert.equal(code, 2);
  assert.equal(
    err,
    `cowpool serve: unexpected "minutes" after --timeout 5: a value with a space needs quotes (--timeout '5 minutes') ` +
      'or no space (--timeout 5minutes)',
  );
  const unit = await cli('serve', 'examples/hello.wasm', '--timeout', '5 fortnights');
  assert.equal(unit.err, 'cowpool serve: --timeout: cannot read "5 fortnights" (write it like 10s, 250ms or 1m)');
});
