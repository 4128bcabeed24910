/**
 * The option checks every entry point shares (src/options/): unknown keys named with the closest
 * known one, the value checks with the option's path in the message, and option values as people
 * write them on the command line (sizes, durations, counts, ports).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { InvalidArgumentError } from '../src/errors.ts';
import { parseBytes, parseCount, parseDuration, parsePort } from '../src/options/units.ts';
import { boolean, closestName, integer, memoryLimitBytes, rejectUnknownKeys, timeoutMs, waitMs } from '../src/options/validate.ts';

test('an unknown key is refused with the closest known name, and the known ones', () => {
  const known = ['timeout', 'memoryLimit', 'setup'];
  rejectUnknownKeys({ timeout: 1, setup: '' }, known, 'options');
  assert.throws(
    () => rejectUnknownKeys({ memorylimit: 1 }, known, 'options'),
    (err: unknown) =>
      err instanceof InvalidArgumentError &&
      err.message === "options: unknown option 'memorylimit'; did you mean 'memoryLimit'? (known: timeout, memoryLimit, setup)",
  );
  assert.equal(closestName('timout', known), 'timeout');
  assert.equal(closestName('memLimit', known), 'memoryLimit', 'an abbreviation');
  assert.equal(closestName('zzzzzzzz', known), undefined, 'nothing near enough to be a typo');
});

test('each value check names the option and what it got', () => {
  assert.equal(integer('options.max', 3, 1), 3);
  assert.throws(() => integer('options.max', 0, 1), { message: /^options\.max must be an integer of at least 1, not 0$/ });
  assert.throws(() => integer('options.max', 1.5, 1), /not 1\.5$/);
  assert.equal(boolean('options.hardDeadline', false), false);
  assert.throws(() => boolean('options.hardDeadline', 'yes'), { message: /^options\.hardDeadline must be a boolean, not yes$/ });
  assert.equal(waitMs('options.acquireTimeout', 0), 0);
  assert.equal(waitMs('options.acquireTimeout', Infinity), Infinity);
  assert.throws(() => waitMs('options.wait', -1), { message: /^options\.wait must be a non-negative number of ms, not -1$/ });
  assert.throws(() => waitMs('options.acquireTimeout', NaN), /not NaN$/);
  assert.equal(timeoutMs('options.timeout', Infinity), Infinity);
  assert.equal(timeoutMs('options.timeout', 0.5), 0.5);
  for (const bad of [0, -1, NaN, '10', -Infinity]) {
    const message = /^options\.timeout must be a positive number of ms \(or Infinity\)/;
    assert.throws(() => timeoutMs('options.timeout', bad), { message }, String(bad));
  }
  assert.equal(memoryLimitBytes('options.memoryLimit', 65536, 2 ** 30), 65536);
  assert.throws(() => memoryLimitBytes('options.memoryLimit', 65535, 2 ** 30), /between 64 KiB and 1 GiB, not 65535$/);
  assert.throws(() => memoryLimitBytes('options.memoryLimit', 2 ** 30 + 1, 2 ** 30), /between 64 KiB and 1 GiB/);
});

test('sizes, durations, counts and ports as written on the command line', () => {
  const sizes: [string, number][] = [
    ['1MiB', 2 ** 20],
    ['512KiB', 512 * 1024],
    ['64k', 65536],
    ['2MB', 2_000_000],
    ['1048576', 2 ** 20],
    [' 1.5 g ', 1.5 * 2 ** 30],
  ];
  for (const [text, bytes] of sizes) assert.equal(parseBytes('--max-body', text), bytes, text);
  const unreadable = /^--max-body: cannot read "1 parsec" \(write it like 1MiB, 512KiB or 1048576\)$/;
  assert.throws(() => parseBytes('--max-body', '1 parsec'), { message: unreadable });
  const durations: [string, number][] = [
    ['10s', 10_000],
    ['250ms', 250],
    ['1m', 60_000],
    ['2h', 7_200_000],
    ['1500', 1500],
    ['5 minutes', 300_000],
    ['1 second', 1000],
    ['2 hours', 7_200_000],
  ];
  for (const [text, ms] of durations) assert.equal(parseDuration('--timeout', text), ms, text);
  assert.throws(() => parseDuration('--timeout', '-1s'), { message: /^--timeout: cannot read "-1s"/ });
  assert.equal(parseCount('--workers', '4', 1), 4);
  assert.throws(() => parseCount('--workers', '0', 1), { message: /^--workers 0: expected a whole number of at least 1$/ });
  assert.throws(() => parseCount('--n', '1.5'), { message: /^--n 1\.5: expected a whole number$/ });
  assert.equal(parsePort('--port', '0'), 0);
  assert.equal(parsePort('--port', '65535'), 65535);
  assert.throws(() => parsePort('--port', '65536'), { message: /^--port 65536: expected a port number$/ });
});
