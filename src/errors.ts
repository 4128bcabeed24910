/**
 * Every error cowpool throws on purpose is a {@link CowpoolError} with a stable `code`. Callers
 * should branch on `err.code` (or `instanceof`, which works across two installed copies of cowpool
 * because each class is branded with a registry symbol). The codes are listed in README.md.
 *
 * Each class also says whose fault it was, through the abstract class it extends; a server maps
 * these to its answer without knowing every class:
 *
 *     CowpoolError
 *     ├─ GuestError         the guest's code failed: it threw, trapped, answered garbage (HTTP 500/502)
 *     │  └─ GuestLimitError the guest reached a limit of its use: time, memory, output (504/507/502)
 *     ├─ CallerError        the caller's doing: a wrong argument, a closed pool, a module that
 *     │                     cannot be pooled, a nested use, an abort (400, or a bug to fix)
 *     ├─ CapacityError      nobody's fault: no instance or thread was free in time, or too many
 *     │                     callers waited already (503: retry later)
 *     └─ HostError          the host's side: a system call, a missing platform feature, a value the
 *                           host cannot carry, a cowpool bug (500)
 *
 * The bases are abstract: only their subclasses are thrown. Messages say what was wrong, by how
 * much, and what to do about it.
 */

const BRAND = Symbol.for('cowpool.error');

/** Stable codes of every cowpool error class. */
export const ErrorCodes = {
  INVALID_ARGUMENT: 'COWPOOL_ERR_INVALID_ARGUMENT',
  SYSCALL: 'COWPOOL_ERR_SYSCALL',
  UNSUPPORTED: 'COWPOOL_ERR_UNSUPPORTED',
  CLOSED: 'COWPOOL_ERR_CLOSED',
  MALFORMED_MODULE: 'COWPOOL_ERR_MALFORMED_MODULE',
  NOT_POOLABLE: 'COWPOOL_ERR_NOT_POOLABLE',
  IMPORT_MISSING: 'COWPOOL_ERR_IMPORT_MISSING',
  POOL_CLOSED: 'COWPOOL_ERR_POOL_CLOSED',
  ACQUIRE_TIMEOUT: 'COWPOOL_ERR_ACQUIRE_TIMEOUT',
  ABORTED: 'COWPOOL_ERR_ABORTED',
  GUEST_TRAP: 'COWPOOL_ERR_GUEST_TRAP',
  GUEST_TIMEOUT: 'COWPOOL_ERR_GUEST_TIMEOUT',
  MALFORMED_CGI_RESPONSE: 'COWPOOL_ERR_MALFORMED_CGI_RESPONSE',
  GUEST_EXCEPTION: 'COWPOOL_ERR_GUEST_EXCEPTION',
  GUEST_MEMORY_LIMIT: 'COWPOOL_ERR_GUEST_MEMORY_LIMIT',
  GUEST_OUTPUT_LIMIT: 'COWPOOL_ERR_GUEST_OUTPUT_LIMIT',
  NESTED_USE: 'COWPOOL_ERR_NESTED_USE',
  QUEUE_FULL: 'COWPOOL_ERR_QUEUE_FULL',
  THREAD_EXITED: 'COWPOOL_ERR_THREAD_EXITED',
  INTERNAL: 'COWPOOL_ERR_INTERNAL',
  HOST_FUNCTION: 'COWPOOL_ERR_HOST_FUNCTION',
  UNCLONEABLE_VALUE: 'COWPOOL_ERR_UNCLONEABLE_VALUE',
} as const;

/** One of the {@link ErrorCodes} values. */
export type ErrorCode = (typeof ErrorCodes)[keyof typeof ErrorCodes];

/** Base class of every error cowpool throws on purpose. */
export class CowpoolError extends Error {
  /** Stable machine-readable code, e.g. `COWPOOL_ERR_SYSCALL`. */
  readonly code: ErrorCode;

  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.name = new.target.name;
  }

  static override [Symbol.hasInstance](value: unknown): boolean {
    if (this === CowpoolError) {
      return typeof value === 'object' && value !== null && (value as Record<symbol, unknown>)[BRAND] === true;
    }
    return Function.prototype[Symbol.hasInstance].call(this, value) || brandedAs(value, this.name);
  }
}
Object.defineProperty(CowpoolError.prototype, BRAND, { value: true });

/**
 * The guest failed: code the pool ran threw, trapped, or produced what its host cannot accept. The
 * input or the guest's program is to blame, not the caller's use of cowpool; the next use is
 * pristine all the same.
 */
export abstract class GuestError extends CowpoolError {}

/**
 * The guest reached a limit its use set (time, memory, output) and was stopped there. A
 * {@link GuestError}: the guest's program or its input asked for more than it may have; raise the
 * limit if the work is legitimate.
 */
export abstract class GuestLimitError extends GuestError {}

/**
 * The caller's doing: an argument or option that is wrong, an object used after it was closed, a
 * module cowpool cannot pool, a use that waits on itself, a wait the caller aborted. Fix the call.
 */
export abstract class CallerError extends CowpoolError {}

/**
 * Nobody's mistake: every instance (or thread) was busy for longer than the caller would wait, or
 * the queue of callers was full. Retry later, or raise the pool's size.
 */
export abstract class CapacityError extends CowpoolError {}

/**
 * The host's side failed: a system call, a feature this platform lacks, a value the host cannot
 * carry across, or cowpool itself (a bug). Neither the guest nor the caller did anything wrong.
 */
export abstract class HostError extends CowpoolError {}

/**
 * True when `value` is a cowpool error of the class named `name`, or of a subclass of it, from any
 * installed copy (`SqliteMemoryLimitError` from another copy is a `GuestMemoryLimitError` here too).
 */
function brandedAs(value: unknown, name: string): boolean {
  if (typeof value !== 'object' || value === null || (value as Record<symbol, unknown>)[BRAND] !== true) return false;
  if ((value as Error).name === name) return true;
  for (let proto: object | null = Object.getPrototypeOf(value); proto !== null; proto = Object.getPrototypeOf(proto)) {
    if (Object.hasOwn(proto, 'constructor') && (proto as { constructor: { name: string } }).constructor.name === name) return true;
  }
  return false;
}

/** An argument or option was out of range or of the wrong type; the message names it. */
export class InvalidArgumentError extends CallerError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(ErrorCodes.INVALID_ARGUMENT, message, options);
  }
}

/** A system call failed. Carries the call's name and the errno code the kernel returned. */
export class SyscallError extends HostError {
  /** The system call, e.g. `ioctl(PAGEMAP_SCAN)` or `mmap`. */
  readonly syscall: string;
  /** The errno code, e.g. `EINVAL`. */
  readonly errno: string;
  /** The numeric errno value. */
  readonly errnoNumber: number;

  constructor(syscall: string, errno: string, errnoNumber: number, meaning: string) {
    super(ErrorCodes.SYSCALL, `${syscall} failed with ${errno}: ${meaning}`);
    this.syscall = syscall;
    this.errno = errno;
    this.errnoNumber = errnoNumber;
  }
}

/** This platform, kernel or Node lacks something cowpool needs; `reason` says what and what to do. */
export class UnsupportedError extends HostError {
  /** The feature that is missing, e.g. `PAGEMAP_SCAN`. */
  readonly feature: string;
  readonly reason: string;

  constructor(feature: string, reason: string, options?: { cause?: unknown }) {
    super(ErrorCodes.UNSUPPORTED, `${feature} is not available: ${reason}`, options);
    this.feature = feature;
    this.reason = reason;
  }
}

/** A resource (image, slot, page map, lease) was used after it was closed or released. */
export class ClosedError extends CallerError {
  constructor(what: string) {
    super(ErrorCodes.CLOSED, `${what} was used after it was closed`);
  }
}

/** A WebAssembly binary could not be decoded; says in which section, at which byte and why. */
export class MalformedModuleError extends CallerError {
  /** The section being read (`type`, `code`, `data`, …) or `header`. */
  readonly section: string;
  /** Byte offset into the module binary. */
  readonly offset: number;
  readonly reason: string;

  constructor(section: string, offset: number, reason: string) {
    super(ErrorCodes.MALFORMED_MODULE, `malformed module: ${reason} (section ${section}, byte offset ${offset})`);
    this.section = section;
    this.offset = offset;
    this.reason = reason;
  }
}

/** A valid module that cowpool cannot pool, with the reason and, where one exists, the fix. */
export class ModuleNotPoolableError extends CallerError {
  readonly reason: string;

  constructor(reason: string, options?: { cause?: unknown }) {
    super(ErrorCodes.NOT_POOLABLE, `module cannot be pooled: ${reason}`, options);
    this.reason = reason;
  }
}

/** The module imports something the supplied imports object does not provide. */
export class ImportMissingError extends CallerError {
  readonly module: string;
  readonly field: string;
  readonly kind: string;

  constructor(module: string, field: string, kind: string) {
    super(ErrorCodes.IMPORT_MISSING, `module imports ${kind} "${module}"."${field}" but options.imports does not provide it`);
    this.module = module;
    this.field = field;
    this.kind = kind;
  }
}

/** The pool was closed; no more instances are handed out. */
export class PoolClosedError extends CallerError {
  constructor(message = 'the pool is closed', options?: { cause?: unknown }) {
    super(ErrorCodes.POOL_CLOSED, message, options);
  }
}

/** Waiting for a free instance took longer than the caller allowed. */
export class AcquireTimeoutError extends CapacityError {
  readonly timeoutMs: number;

  constructor(timeoutMs: number, max: number, message?: string) {
    super(
      ErrorCodes.ACQUIRE_TIMEOUT,
      message ?? `no instance became free within ${timeoutMs} ms (all ${max} in use); raise options.max or the timeout`,
    );
    this.timeoutMs = timeoutMs;
  }
}

/**
 * The caller's `AbortSignal` fired before an instance was handed out (or had already fired). The
 * signal's `reason` is the `cause`. Nothing was leased. A use aborted while it ran was stopped:
 * on worker threads with its thread, in a `WasiCommand` at its next host call or fuel check (its
 * result's `error`); the message says so.
 */
export class AbortedError extends CallerError {
  constructor(cause: unknown, message = "the wait for an instance was aborted by the caller's AbortSignal") {
    super(ErrorCodes.ABORTED, message, { cause });
  }
}

/** The guest trapped (unreachable, out-of-bounds access, …). The instance is reset before reuse. */
export class GuestTrapError extends GuestError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(ErrorCodes.GUEST_TRAP, `guest trapped: ${message}`, options);
  }
}

/**
 * The guest ran past its deadline and was stopped: by the fuel counter (`interruptible`), or, on
 * worker threads, by ending its thread a grace period after the deadline. The message says which,
 * and what did not finish when it was not the use's own code (a start function, an initializer).
 */
export class GuestTimeoutError extends GuestLimitError {
  readonly timeoutMs: number;

  constructor(timeoutMs: number, message = `guest did not finish within ${timeoutMs} ms and was stopped`) {
    super(ErrorCodes.GUEST_TIMEOUT, message);
    this.timeoutMs = timeoutMs;
  }
}

/** One line a guest logged through `console` (QuickJS's), as the errors that end its use carry it. */
export interface ConsoleEntry {
  level: 'log' | 'info' | 'warn' | 'error' | 'debug';
  text: string;
}

/**
 * The guest needed more memory than its limit (a sandbox's `memoryLimit`) allows, and the use was
 * stopped; the instance is reset before reuse.
 *
 * One error and one code for every sandbox, not one per engine: a caller branches on what happened
 * (the input needs more memory than the guest may have: answer 507, or raise `memoryLimit`), never
 * on which engine ran out, and it knows which sandbox it called anyway. What differs between the
 * engines is detail: the limit counts QuickJS's whole heap in one and SQLite's in the other, and only
 * QuickJS has a console to report. So the engines share this class; SQLite throws it as its subclass
 * `SqliteMemoryLimitError`, which keeps that name and its wording (`instanceof GuestMemoryLimitError`
 * and `code` match both).
 */
export class GuestMemoryLimitError extends GuestLimitError {
  /** The limit in bytes (the guest's whole heap, what its setup left included). */
  readonly limitBytes: number;
  /** What the guest logged before it ran out (QuickJS's console); empty for a guest without one. */
  readonly logs: ConsoleEntry[];

  constructor(
    limitBytes: number,
    logs: ConsoleEntry[] = [],
    message = `guest ran out of memory at its limit of ${limitBytes} bytes and was stopped; raise memoryLimit if the script needs more`,
  ) {
    super(ErrorCodes.GUEST_MEMORY_LIMIT, message);
    this.limitBytes = limitBytes;
    this.logs = logs;
  }
}

/**
 * The guest wrote more to stdout and stderr (together) than its use allows, and the use was
 * stopped before the output passed the limit; the instance is reset before reuse. A resource limit
 * of the guest, like {@link GuestMemoryLimitError}: the program's fault or the limit's, never the
 * caller's input. `cowpool serve` answers 502.
 */
export class GuestOutputLimitError extends GuestLimitError {
  /** The limit in bytes, stdout and stderr counted together. */
  readonly limitBytes: number;

  constructor(limitBytes: number) {
    super(
      ErrorCodes.GUEST_OUTPUT_LIMIT,
      `guest wrote more than its output limit of ${limitBytes} bytes (stdout and stderr together) and was stopped; ` +
        'raise the limit (outputLimit, or cowpool serve --max-output) if the program needs more',
    );
    this.limitBytes = limitBytes;
  }
}

/**
 * A use waited for an instance that only a use enclosing it could give back: every instance of the
 * pool is held by uses that are still running around this call (`pool.run` inside `pool.run` with
 * `max: 1`), so the wait could never end. Do the nested work on the enclosing use's instance, or
 * raise `options.max` (or use a second pool) if uses must nest.
 */
export class NestedUseError extends CallerError {
  /** The pool's `max`. */
  readonly max: number;

  constructor(max: number, method: string) {
    super(
      ErrorCodes.NESTED_USE,
      `${method} was called inside a use of the same pool, and the uses around this call hold every instance it may have ` +
        `(options.max is ${max}), so it would wait forever; do the nested work on the enclosing use's instance, ` +
        `or raise options.max if uses must nest`,
    );
    this.max = max;
  }
}

/**
 * A function of the host that the guest called (a sandbox's host function, or the module loader it
 * asked for an import) threw or rejected, and the guest did not catch it: the host's fault, not the
 * guest's. The host's error is the `cause`, untouched; the guest saw an Error with its name and
 * message (never its stack).
 */
export class HostFunctionError extends HostError {
  /** The host function's name as the guest calls it (`db.query`), or `loadModule`. */
  readonly functionName: string;
  /** What the guest logged before the error ended its use (QuickJS's console); empty for a guest without one. */
  readonly logs: ConsoleEntry[];

  constructor(functionName: string, cause: unknown, logs: ConsoleEntry[] = [], message?: string) {
    const text = cause instanceof Error ? `${cause.name}: ${cause.message}` : String(cause);
    super(ErrorCodes.HOST_FUNCTION, message ?? `host function ${functionName} threw ${text}, and the guest did not catch it`, { cause });
    this.functionName = functionName;
    this.logs = logs;
  }
}

/**
 * A value could not be copied between the host and the guest: a function, a symbol, a cycle, or
 * anything else the sandbox's value format does not carry. Whose value it was is in `from` and the
 * message: the guest's (its result, or arguments it passed to a host function) or the host's
 * (arguments of a call, a host function's result). Not the guest's exception: nothing it ran threw.
 */
export class UncloneableValueError extends HostError {
  /** Which side's value it was. */
  readonly from: 'guest' | 'host';
  /** Where in the value: `result.handlers.onClick`, `args[0]`. */
  readonly path: string;
  /** What could not be copied: `function`, `symbol`, `cycle`, … */
  readonly kind: string;
  /** What the guest logged before the use ended (QuickJS's console); empty when the host's value failed first. */
  readonly logs: ConsoleEntry[];

  constructor(from: 'guest' | 'host', path: string, kind: string, message: string, logs: ConsoleEntry[] = []) {
    super(ErrorCodes.UNCLONEABLE_VALUE, message);
    this.from = from;
    this.path = path;
    this.kind = kind;
    this.logs = logs;
  }
}

/**
 * A use was refused because the queue of uses waiting for a thread (or, in an `InstancePool`, for
 * an instance) was full (`maxQueue`): all are busy and enough callers already wait. Nobody's
 * mistake: shed load (HTTP 503), retry later, or raise `maxQueue` or `threads` (`max`).
 */
export class QueueFullError extends CapacityError {
  /** The queue's bound. */
  readonly maxQueue: number;

  /** `busy`: what the waiting uses wait for, the threads of a thread pool or the instances of a pool. */
  constructor(maxQueue: number, busy: { readonly threads: number } | { readonly instances: number }) {
    const [count, noun, knob] = 'threads' in busy ? [busy.threads, 'thread', 'threads'] : [busy.instances, 'instance', 'max'];
    super(
      ErrorCodes.QUEUE_FULL,
      `the queue is full: ${maxQueue} uses already wait for ${count} busy ${noun}${count === 1 ? '' : 's'}; ` +
        `retry later, or raise maxQueue or ${knob}`,
    );
    this.maxQueue = maxQueue;
  }
}

/**
 * The worker thread running a use exited before answering (an uncaught error in code it ran, a
 * call of `process.exit`, running out of memory): the use is lost, and the thread was replaced.
 * The worker's error, when it had one, is the `cause`.
 */
export class ThreadExitedError extends HostError {
  /** The thread's exit code. */
  readonly exitCode: number;

  constructor(exitCode: number, options?: { cause?: unknown }) {
    const why = options?.cause instanceof Error ? `: ${options.cause.message}` : '';
    super(ErrorCodes.THREAD_EXITED, `the worker thread running this use exited (code ${exitCode})${why}; it was replaced`, options);
    this.exitCode = exitCode;
  }
}

/** An invariant of cowpool itself was broken: a bug. Please report it with the message. */
export class InternalError extends HostError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(ErrorCodes.INTERNAL, `internal error (a cowpool bug): ${message}`, options);
  }
}
