/**
 * cowpool/quickjs ES modules: `import` in the setup script and in uses, from a module map or a
 * loader the host provides; what the setup script imports is in the image (loaded once, its state
 * pristine in every use); what a use imports is that use's alone. Real QuickJS, real pool.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { HostFunctionError, InvalidArgumentError, QuickJSError, QuickJSSandbox } from '../src/quickjs/index.ts';

const MODULES: Record<string, string> = {
  'lib/math.js': 'export const square = (x) => x * x; export let calls = 0; export function count() { return ++calls; }',
  'lib/greet.js': "import { square } from './math.js'; export default (name) => `hello ${name} (${square(3)})`;",
  config: 'export default { answer: 42 };',
  extra: 'export const later = "loaded by a use";',
};

/** Names the loader was asked for, in order. */
const asked: string[] = [];
const loader = (name: string) => {
  asked.push(name);
  return MODULES[name];
};

let sandbox: QuickJSSandbox;
before(async () => {
  sandbox = await QuickJSSandbox.create({
    setupFilename: 'main.js',
    setup: `
      import greet from './lib/greet.js';
      import { count } from 'lib/math.js';
      import config from 'config';
      export function hello(name) { return greet(name) + ' ' + config.answer; }
      export function bump() { return count(); }
      globalThis.loadedAtSetup = true;
    `,
    modules: loader,
  });
});
after(() => sandbox.close());

describe('modules of the setup script', () => {
  test('the setup script imports from the loader, relative names resolved, each module asked for once', () => {
    assert.deepEqual(asked.slice(0, 3).sort(), ['config', 'lib/greet.js', 'lib/math.js']);
    assert.equal(sandbox.callSync('hello', ['ada']), 'hello ada (9) 42');
    assert.equal(sandbox.evalSync('loadedAtSetup'), true);
  });

  test('call finds the exports of a module setup script', async () => {
    assert.equal(await sandbox.call('hello', ['bob']), 'hello bob (9) 42');
    assert.throws(() => sandbox.callSync('greet'), /greet is not a function defined by the setup script/);
  });

  test("they are in the image: uses import them without asking the loader, and a module's state is pristine in every use", async () => {
    const before = asked.length;
    for (let i = 0; i < 3; i++) {
      assert.equal(sandbox.callSync('bump'), 1);
      assert.deepEqual(await sandbox.eval('import { count, calls } from "lib/math.js"; count(); count(); export const seen = calls;'), {
        seen: 2,
      });
    }
    assert.equal(asked.length, before, 'nothing loaded again');
  });
});

describe('modules of uses', () => {
  test('a use that begins with import or export is a module; its result is its exports', async () => {
    assert.deepEqual(await sandbox.eval('import { square } from "lib/math.js"; export const nine = square(3), sixteen = square(4);'), {
      nine: 9,
      sixteen: 16,
    });
    assert.deepEqual(sandbox.evalSync('// a comment first\nexport default 7;'), { default: 7 });
  });

  test('a script imports with import(), and awaits it at top level', async () => {
    assert.equal(await sandbox.eval('const { square } = await import("lib/math.js"); square(5)'), 25);
    assert.equal(sandbox.evalSync('(await import("config")).default.answer'), 42);
  });

  test("a module a use loads is that use's alone: loaded again by the next", async () => {
    const before = asked.filter((n) => n === 'extra').length;
    assert.equal(await sandbox.eval('(await import("extra")).later'), 'loaded by a use');
    assert.equal(await sandbox.eval('(await import("extra")).later'), 'loaded by a use');
    assert.equal(asked.filter((n) => n === 'extra').length, before + 2);
  });

  test("a module nobody provides is the guest's ReferenceError", async () => {
    await assert.rejects(
      sandbox.eval('import x from "missing"; x'),
      (e: unknown) =>
        e instanceof QuickJSError && e.guestName === 'ReferenceError' && /could not load module 'missing'/.test(e.guestMessage),
    );
    assert.equal(await sandbox.eval('try { await import("missing") } catch (e) { e.name }'), 'ReferenceError');
  });

  test("a module with an error is the guest's error, with the module's name in its stack", () => {
    const broken = QuickJSSandbox.createSync({ modules: { bad: 'export const x = ;', throws: 'throw new TypeError("at load")' } });
    try {
      assert.throws(
        () => broken.evalSync('import { x } from "bad"; x'),
        (e: unknown) => e instanceof QuickJSError && e.guestName === 'SyntaxError',
      );
      assert.throws(
        () => broken.evalSync('import "throws";'),
        (e: unknown) => e instanceof QuickJSError && e.guestName === 'TypeError' && /throws/.test(e.guestStack),
      );
    } finally {
      void broken.close();
    }
  });
});

describe('loader errors', () => {
  test('a loader that throws ends the use with HostFunctionError, whatever the guest catches', async () => {
    const failing = await QuickJSSandbox.create({
      modules: (name) => {
        if (name === 'boom') throw new Error('disk on fire');
        return name === 'ok' ? 'export default 1' : undefined;
      },
    });
    try {
      await assert.rejects(
        failing.eval('try { await import("boom") } catch {} "swallowed"'),
        (e: unknown) => e instanceof HostFunctionError && e.functionName === 'loadModule' && /disk on fire/.test(e.message),
      );
      assert.equal(failing.evalSync('(await import("ok")).default'), 1, 'the next use is healthy');
    } finally {
      await failing.close();
    }
  });

  test('a loader that answers with something else than source text is refused', async () => {
    const wrong = QuickJSSandbox.createSync({ modules: (() => Promise.resolve('export default 1')) as unknown as () => string });
    try {
      assert.throws(
        () => wrong.evalSync('import x from "a"; x'),
        /options\.modules returned a promise \(a loader must answer at once\) for 'a'/,
      );
    } finally {
      await wrong.close();
    }
  });

  test('bad modules options are InvalidArgumentError naming the option', () => {
    assert.throws(
      () => QuickJSSandbox.createSync({ modules: { a: 1 as unknown as string } }),
      /options\.modules\['a'\] must be the module's source text/,
    );
    assert.throws(() => QuickJSSandbox.createSync({ modules: 'x' as unknown as Record<string, string> }), InvalidArgumentError);
    assert.throws(
      () => QuickJSSandbox.createSync({ setup: 'import x from "nowhere"' }),
      (e: unknown) => e instanceof QuickJSError && /could not load module 'nowhere'/.test(e.message),
      'without modules, any import is refused by QuickJS itself',
    );
  });
});
