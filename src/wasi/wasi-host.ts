/**
 * WasiHost: a WASI preview1 host built for pooling. node:wasi binds one WASI object to one instance
 * for good; here the import object is built once and stays the same object for the host's whole
 * life, while each use (one request) only swaps a small context: argv, environ, stdin bytes and two
 * output sinks. Memory is bound separately, so the pool can hand the same host a re-instantiated
 * instance or another slot's memory.
 *
 *   const host = new WasiHost({ preopens: [{ guestPath: '/data', hostPath: './public' }] });
 *   const instance = new WebAssembly.Instance(module, host.imports);  // once per pooled instance
 *   host.begin({ args, env, stdin, stdout, stderr });                  // per request
 *   try { status = host.runCommand(instance); } finally { host.end(); }
 *
 * Lifecycle: idle --begin--> in use --end--> idle. Host calls made while idle see an empty context
 * and their output is dropped, so a guest can never write into a finished request.
 */

import { realpathSync, statSync } from 'node:fs';
import { InvalidArgumentError } from '../errors.js';
import { rejectUnknownKeys } from '../options/validate.js';
import { systemClock, type UseDeadline, type WasiClock } from './clock.js';
import { validateContext, type WasiContext } from './context.js';
import type { Preopen } from './fd-table.js';
import { ClockId } from './abi.js';
import { DEFAULT_OVERLAY_LIMIT, OverlayBudget } from './fs/overlay-budget.js';
import { PREOPEN_MODES, PreopenFs, type PreopenMode } from './fs/preopen-fs.js';
import { createPreview1Imports } from './preview1-imports.js';
import { cryptoRandom, type RandomSource } from './random.js';
import { WasiState } from './state.js';
import { WasiExit } from './wasi-exit.js';

/** A host directory granted to the guest under a guest path. */
export interface PreopenOption {
  /** The name the guest sees, e.g. `/data` or `.`; wasi-libc maps absolute paths under it to this directory. */
  guestPath: string;
  /** The host directory. Must exist; symlinks in it are resolved once, at construction. */
  hostPath: string;
  /**
   * What the guest's changes do:
   * - `overlay` (default): the directory is writable, but every change (writes, creations,
   *   renames, deletions, symlinks) lands in an in-memory layer that vanishes at the end of the
   *   use. Every use sees the host directory exactly as it is; it is never written.
   * - `readonly`: every change answers EROFS.
   * - `persistent`: changes are made to the host directory and stay.
   */
  mode?: PreopenMode;
}

/** Options of {@link WasiHost}. */
export interface WasiHostOptions {
  /** Directories granted to the guest, read-only, as fds 3, 4, … in this order. Default: none. */
  preopens?: readonly PreopenOption[];
  /** Time source and sleep; any part left out comes from the system clock. */
  clock?: Partial<WasiClock>;
  /** Entropy for random_get. Default: `crypto.getRandomValues`. */
  random?: RandomSource;
  /**
   * Most bytes the file system may hold in memory in one use: what the `overlay` preopens hold
   * (file buffers, plus a few hundred bytes per name and per node, kept while a name or an open
   * descriptor refers to them) and the directory listings fd_readdir keeps. Past it the guest gets
   * ENOSPC (ENOMEM for a listing). Default 64 MiB.
   */
  overlayLimit?: number;
  /**
   * The owner of each use's deadline, read by every host call that can take time or produce
   * output (writes, reads, path calls, polls, large random_get): once it has passed, the call ends
   * the use with the owner's error (`GuestTimeoutError`), and a sleep is cut at it. In a pool, pass
   * the `InstanceHost` that `setup` receives. Default: none (uses have no deadline).
   */
  deadline?: UseDeadline;
}

const HOST_OPTION_KEYS = ['preopens', 'clock', 'random', 'overlayLimit', 'deadline'] as const satisfies readonly (keyof WasiHostOptions)[];
const PREOPEN_KEYS = ['guestPath', 'hostPath', 'mode'] as const satisfies readonly (keyof PreopenOption)[];

/**
 * A WASI preview1 host whose per-use context can be swapped in microseconds.
 *
 * Output sinks get views into guest memory (see {@link WasiContext}); {@link OutputCollector}
 * copies. Files under preopens are reached with `fs` sync APIs; what the guest may change depends on
 * each preopen's {@link PreopenOption.mode}. Host calls never throw into the guest except `proc_exit` (a {@link WasiExit}, caught by
 * {@link runCommand}), the limits of the use, which end the run (`GuestTimeoutError` from the
 * {@link WasiHostOptions.deadline} owner, `GuestOutputLimitError` past {@link WasiContext.outputLimit}),
 * and errors thrown by the context's own sinks, which end it too.
 */
export class WasiHost {
  /** `{ wasi_snapshot_preview1: { … } }`: pass to `new WebAssembly.Instance`. The same frozen object for the host's lifetime. */
  readonly imports: WebAssembly.Imports;
  readonly #state: WasiState;
  #inUse = false;

  constructor(options: WasiHostOptions = {}) {
    if (options === null || typeof options !== 'object') throw new InvalidArgumentError('options must be an object');
    rejectUnknownKeys(options, HOST_OPTION_KEYS, 'WasiHost options');
    const clock = resolveClock(options.clock);
    if (options.random !== undefined && typeof options.random !== 'function') {
      throw new InvalidArgumentError('options.random must be a function that fills a Uint8Array');
    }
    const limit = options.overlayLimit ?? DEFAULT_OVERLAY_LIMIT;
    if (typeof limit !== 'number' || !Number.isSafeInteger(limit) || limit < 0) {
      throw new InvalidArgumentError(`options.overlayLimit must be a whole number of bytes, got ${String(limit)}`);
    }
    const deadline = options.deadline;
    if (deadline !== undefined && (deadline === null || typeof deadline !== 'object' || typeof deadline.checkDeadline !== 'function')) {
      throw new InvalidArgumentError('options.deadline must be { deadline, checkDeadline() }, such as the InstanceHost a pool gives setup');
    }
    const budget = new OverlayBudget(limit);
    const now = () => clock.now(ClockId.REALTIME) ?? BigInt(Date.now()) * 1_000_000n;
    const preopens = resolvePreopens(options.preopens, budget, now);
    this.#state = new WasiState(preopens, budget, clock, options.random ?? cryptoRandom, deadline);
    this.imports = createPreview1Imports(this.#state);
  }

  /**
   * Binds the memory host calls read and write. Call it once per instance (or whenever the pool gives
   * the instance another memory); {@link runCommand} does it for an instance that exports `memory`.
   * Growth of the memory during a run is handled: the host re-reads `memory.buffer` when it changed.
   */
  bindMemory(memory: WebAssembly.Memory): void {
    if (!(memory instanceof WebAssembly.Memory)) throw new InvalidArgumentError('bindMemory() needs a WebAssembly.Memory');
    this.#state.memory.bind(memory);
  }

  /**
   * Starts a use: installs `context`, rewinds stdin, restores the fd table (streams at 0-2,
   * preopens from 3) and forgets files and flags of the previous use.
   * @throws InvalidArgumentError when the context is malformed or a use is already active.
   */
  begin(context: WasiContext): void {
    if (this.#inUse) throw new InvalidArgumentError('begin() was called while a use is active; call end() first');
    validateContext(context);
    this.#state.begin(context);
    this.#inUse = true;
  }

  /** Finishes the use: closes every file the guest opened and detaches the context's sinks. Idempotent. */
  end(): void {
    this.#state.end();
    this.#inUse = false;
  }

  /** Bytes the overlays hold in the current use (0 between uses: {@link end} drops them). */
  get overlayBytes(): number {
    return this.#state.overlayBytes;
  }

  /** Whether a use is active (between {@link begin} and {@link end}). */
  get inUse(): boolean {
    return this.#inUse;
  }

  /**
   * Runs a WASI command: calls `_start` and returns its exit status, 0 when it returned and `n` when
   * it called `proc_exit(n)` (which is how C's `exit(n)` and a non-zero `return` from main end).
   * Traps (`WebAssembly.RuntimeError`), the limits' errors and errors thrown by the context's sinks are rethrown.
   * Binds the instance's exported `memory` when it is not the bound one.
   * @throws InvalidArgumentError when the instance has no `_start` or there is no memory to bind.
   */
  runCommand(instance: WebAssembly.Instance): number {
    const exports = instance.exports;
    const start = exports['_start'];
    if (typeof start !== 'function') {
      throw new InvalidArgumentError('instance does not export a function "_start"; is the module a WASI command?');
    }
    const memory = exports['memory'];
    if (memory instanceof WebAssembly.Memory) {
      if (memory !== this.#state.memory.memory) this.#state.memory.bind(memory);
    } else if (this.#state.memory.memory === undefined) {
      throw new InvalidArgumentError('instance exports no "memory" and none was bound with bindMemory()');
    }
    try {
      (start as () => void)();
      return 0;
    } catch (error) {
      if (error instanceof WasiExit) return error.exitCode;
      throw error;
    }
  }

  /** {@link begin}, {@link runCommand}, then {@link end} even if the guest trapped. Returns the exit status. */
  run(instance: WebAssembly.Instance, context: WasiContext): number {
    this.begin(context);
    try {
      return this.runCommand(instance);
    } finally {
      this.end();
    }
  }
}

function resolvePreopens(preopens: readonly PreopenOption[] | undefined, budget: OverlayBudget, now: () => bigint): Preopen[] {
  if (preopens === undefined) return [];
  if (!Array.isArray(preopens)) throw new InvalidArgumentError('options.preopens must be an array of { guestPath, hostPath }');
  return preopens.map((preopen: PreopenOption, i) => {
    const where = `options.preopens[${i}]`;
    if (preopen === null || typeof preopen !== 'object') throw new InvalidArgumentError(`${where} must be { guestPath, hostPath }`);
    rejectUnknownKeys(preopen, PREOPEN_KEYS, where);
    const { guestPath, hostPath, mode = 'overlay' } = preopen;
    if (!PREOPEN_MODES.includes(mode)) {
      throw new InvalidArgumentError(`${where}.mode must be one of ${PREOPEN_MODES.join(', ')}, got ${JSON.stringify(mode)}`);
    }
    if (typeof guestPath !== 'string' || guestPath === '' || guestPath.includes('\0')) {
      throw new InvalidArgumentError(`${where}.guestPath must be a non-empty string without NUL, e.g. "/data"`);
    }
    if (typeof hostPath !== 'string' || hostPath === '' || hostPath.includes('\0')) {
      throw new InvalidArgumentError(`${where}.hostPath must be a non-empty path string`);
    }
    let real: string;
    try {
      real = realpathSync.native(hostPath);
    } catch (error) {
      throw new InvalidArgumentError(`${where}.hostPath ${JSON.stringify(hostPath)} does not exist or cannot be read`, {
        cause: error,
      });
    }
    if (!statSync(real).isDirectory()) {
      throw new InvalidArgumentError(`${where}.hostPath ${JSON.stringify(hostPath)} is not a directory`);
    }
    return { guestPath, fs: new PreopenFs(real, mode, budget, now) };
  });
}

function resolveClock(clock: Partial<WasiClock> | undefined): WasiClock {
  if (clock === undefined) return systemClock;
  if (clock === null || typeof clock !== 'object') throw new InvalidArgumentError('options.clock must be an object');
  for (const key of ['now', 'resolution', 'sleep'] as const) {
    if (clock[key] !== undefined && typeof clock[key] !== 'function') {
      throw new InvalidArgumentError(`options.clock.${key} must be a function`);
    }
  }
  return {
    now: clock.now ?? systemClock.now,
    resolution: clock.resolution ?? systemClock.resolution,
    sleep: clock.sleep ?? systemClock.sleep,
  };
}
