/**
 * What the CLI prints when a command fails, and its exit code. A cowpool error already says what
 * was wrong; a system error from Node (a module file that does not exist, a port in use) is put in
 * words with what it was about (`cannot read examples/nope.wasm: no such file`) instead of Node's
 * `ENOENT: no such file or directory, open 'examples/nope.wasm'`. main.ts puts the command in front.
 */
import { CowpoolError, InvalidArgumentError } from '../errors.js';

/** A failure as the CLI reports it. */
export interface FailureReport {
  /** One line, without the `cowpool <command>:` prefix. */
  readonly message: string;
  /** 2 for a command line the user must change, 1 for anything else. */
  readonly exitCode: number;
}

/** A Node system error: fs (`path`), net (`address`, `port`). */
interface SystemError extends Error {
  code: string;
  syscall: string;
  path?: string;
  address?: string;
  port?: number;
}

/** The system calls the CLI makes, as the verb of "cannot … <what>". */
const VERBS: Readonly<Record<string, string>> = {
  open: 'read',
  read: 'read',
  stat: 'read',
  lstat: 'read',
  scandir: 'read',
  listen: 'listen on',
  bind: 'listen on',
};

/** errno codes a user meets, in words; others keep Node's description. */
const REASONS: Readonly<Record<string, string>> = {
  ENOENT: 'no such file',
  EACCES: 'permission denied',
  EPERM: 'operation not permitted',
  EISDIR: 'it is a directory',
  ENOTDIR: 'a part of the path is not a directory',
  EADDRINUSE: 'the address is already in use (another server listens there; pick another --port)',
  EADDRNOTAVAIL: 'this host has no such address',
  EMFILE: 'too many open files',
};

/** How the CLI reports `err`. */
export function reportFailure(err: unknown): FailureReport {
  if (err instanceof CowpoolError) return { message: err.message, exitCode: err instanceof InvalidArgumentError ? 2 : 1 };
  if (isSystemError(err)) return { message: describeSystemError(err), exitCode: 1 };
  return { message: err instanceof Error ? err.message : String(err), exitCode: 1 };
}

function describeSystemError(err: SystemError): string {
  // Node words it "CODE: description, syscall 'path'"; the description is the fallback reason.
  const reason = REASONS[err.code] ?? /^[A-Z0-9_]+: ([^,]+)/.exec(err.message)?.[1] ?? err.code;
  const what = err.path ?? (err.address !== undefined ? `${err.address}${err.port !== undefined ? `:${err.port}` : ''}` : undefined);
  if (what === undefined) return `${err.syscall} failed: ${reason}`;
  return `cannot ${VERBS[err.syscall] ?? err.syscall} ${what}: ${reason}`;
}

function isSystemError(err: unknown): err is SystemError {
  return (
    err instanceof Error &&
    typeof (err as Partial<SystemError>).code === 'string' &&
    typeof (err as Partial<SystemError>).syscall === 'string'
  );
}
