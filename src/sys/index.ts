/**
 * The system layer: the one place in cowpool that reaches native code. Everything above it sees
 * typed wrappers that throw {@link SyscallError}s, and branded {@link Address}es.
 */
export * from './syscalls.js';
export { errnoName } from './errno.js';
export { FdLedger, installFdLedger, recordFd, forgetFd, DEFAULT_LEDGER_CAPACITY } from './fd-ledger.js';
