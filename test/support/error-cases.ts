/**
 * One instance of every cowpool error class, with its name, code and message shape: the table that
 * errors.test.ts checks and error-transport.test.ts sends across threads. A new class gets a row.
 */
import * as errors from '../../src/errors.ts';
import { MalformedCgiResponseError } from '../../src/serve/cgi.ts';
import { QuickJSError } from '../../src/quickjs/errors.ts';
import { SqliteError, SqliteMemoryLimitError } from '../../src/sqlite/errors.ts';

/** Every error class outside src/errors.ts, as a receiver must be told of them. */
export const ERROR_CLASSES_ELSEWHERE = [MalformedCgiResponseError, QuickJSError, SqliteError, SqliteMemoryLimitError];

/** `[error, name, code, message]`, one row per class. */
export const ERROR_CASES: [errors.CowpoolError, string, string, RegExp][] = [
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
  [
    new errors.QueueFullError(64, { threads: 2 }),
    'QueueFullError',
    'COWPOOL_ERR_QUEUE_FULL',
    /^the queue is full: 64 uses already wait for 2 busy threads; retry later, or raise maxQueue or threads$/,
  ],
  [
    new errors.ThreadExitedError(1, { cause: new Error('boom') }),
    'ThreadExitedError',
    'COWPOOL_ERR_THREAD_EXITED',
    /^the worker thread running this use exited \(code 1\): boom; it was replaced$/,
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
