/**
 * errno numbers to names, and system-call failures to {@link SyscallError}s whose message says what
 * the failure means in cowpool's situation rather than only strerror's generic text.
 */
import { constants } from 'node:os';
import { SyscallError } from '../errors.js';

const names = new Map<number, string>();
for (const [name, value] of Object.entries(constants.errno)) {
  if (!names.has(value)) names.set(value, name);
}

/** The symbolic name of an errno value (`22` → `EINVAL`), or `E<number>` when unknown. */
export function errnoName(errno: number): string {
  return names.get(errno) ?? `E${errno}`;
}

/** What an errno means for one call; keys are errno names. `default` covers the rest. */
export type Meanings = Partial<Record<string, string>> & { default?: string };

/** Builds the typed error for a failed call, with the meaning that fits this call. */
export function syscallError(syscall: string, errno: number, meanings: Meanings = {}): SyscallError {
  const name = errnoName(errno);
  const meaning = meanings[name] ?? meanings.default ?? genericMeaning(name);
  return new SyscallError(syscall, name, errno, meaning);
}

function genericMeaning(name: string): string {
  switch (name) {
    case 'EINVAL':
      return 'the kernel rejected an argument';
    case 'ENOMEM':
      return 'out of memory or address space';
    case 'EPERM':
    case 'EACCES':
      return 'not permitted (a sandbox, seccomp filter or missing capability)';
    case 'ENOSYS':
      return 'this kernel does not implement the call';
    case 'EBADF':
      return 'the file descriptor is not open';
    default:
      return 'unexpected failure';
  }
}
