/**
 * The guest's file descriptors for one use: 0-2 are the context's streams, 3.. the preopened
 * directories (fixed for the host's lifetime), then whatever the guest opens. A use may close or
 * renumber any of them; the next use starts again from the pristine table.
 */

import { Errno, STDIN_RIGHTS, STDOUT_RIGHTS, DIRECTORY_RIGHTS, INHERITING_RIGHTS, type ErrnoValue } from './abi.js';
import type { DirNode } from './fs/fs-node.js';
import type { OpenFile } from './fs/open-file.js';
import type { Listing, PreopenFs } from './fs/preopen-fs.js';

/** fd 0, 1 or 2: the context's stdin, stdout or stderr. */
export interface StreamEntry {
  readonly kind: 'stream';
  readonly stream: 0 | 1 | 2;
  rightsBase: bigint;
  rightsInheriting: bigint;
  flags: number;
}

/** A directory: a preopen or one the guest opened beneath it. */
export interface DirectoryEntry {
  readonly kind: 'directory';
  /** The preopened directory this one lies in (its mode decides what changes are allowed). */
  readonly fs: PreopenFs;
  /** The directory itself; resolution beneath it never leaves it. */
  readonly dir: DirNode;
  /** The name fd_prestat_dir_name reports (UTF-8), for preopens only. */
  readonly preopenName: Uint8Array | undefined;
  rightsBase: bigint;
  rightsInheriting: bigint;
  flags: number;
  /** Entries read at the first fd_readdir, so cookies stay stable while the guest iterates (charged while kept). */
  listing: Listing | undefined;
}

/** A regular file the guest opened; reads and writes go through `file` at the tracked position. */
export interface FileEntry {
  readonly kind: 'file';
  readonly file: OpenFile;
  position: number;
  rightsBase: bigint;
  rightsInheriting: bigint;
  flags: number;
}

/** Anything a guest fd can name. */
export type FdEntry = StreamEntry | DirectoryEntry | FileEntry;

/** Directory granted to the guest at fd 3 and up, already checked and made real. */
export interface Preopen {
  readonly guestPath: string;
  readonly fs: PreopenFs;
}

/** The most fds a guest may have open at once (host fds are a shared, finite resource). */
export const MAX_OPEN_FDS = 1024;

const encoder = new TextEncoder();

/**
 * File descriptor table of one WASI host. {@link reset} restores the pristine table (and closes
 * host fds); it is a no-op when the previous use touched nothing, which is the common case. A
 * descriptor closed gives back what it held: its host fd, its file's reference, its listing.
 */
export class FdTable {
  readonly #preopens: readonly Preopen[];
  readonly #preopenNames: readonly Uint8Array[];
  #entries: (FdEntry | undefined)[] = [];
  #open = 0;
  #changed = true;

  constructor(preopens: readonly Preopen[]) {
    this.#preopens = preopens;
    this.#preopenNames = preopens.map((p) => encoder.encode(p.guestPath));
    this.reset();
  }

  /**
   * Closes everything the guest opened (host fds, files, listings) and restores fds 0.. to streams
   * and preopens: at the end of a use, so that nothing it opened outlives it, and again (a no-op
   * then) at the start of the next.
   */
  reset(): void {
    if (!this.#changed) return;
    for (const entry of this.#entries) if (entry !== undefined) release(entry);
    const entries: (FdEntry | undefined)[] = [
      { kind: 'stream', stream: 0, rightsBase: STDIN_RIGHTS, rightsInheriting: 0n, flags: 0 },
      { kind: 'stream', stream: 1, rightsBase: STDOUT_RIGHTS, rightsInheriting: 0n, flags: 0 },
      { kind: 'stream', stream: 2, rightsBase: STDOUT_RIGHTS, rightsInheriting: 0n, flags: 0 },
    ];
    for (let i = 0; i < this.#preopens.length; i++) {
      const fs = (this.#preopens[i] as Preopen).fs;
      entries.push({
        kind: 'directory',
        fs,
        dir: fs.root,
        preopenName: this.#preopenNames[i],
        rightsBase: DIRECTORY_RIGHTS,
        rightsInheriting: INHERITING_RIGHTS,
        flags: 0,
        listing: undefined,
      });
    }
    this.#entries = entries;
    this.#open = entries.length;
    this.#changed = false;
  }

  /** The entry at `fd`, or undefined when fd is not open. */
  get(fd: number): FdEntry | undefined {
    return this.#entries[fd];
  }

  /** Marks the table as modified (flags or rights changed), so the next {@link reset} rebuilds it. */
  touch(): void {
    this.#changed = true;
  }

  /** Puts `entry` at the lowest free fd and returns it; undefined when {@link MAX_OPEN_FDS} are open. */
  add(entry: FdEntry): number | undefined {
    if (this.#open >= MAX_OPEN_FDS) return undefined;
    this.#changed = true;
    let fd = 3 + this.#preopens.length;
    while (fd < this.#entries.length && this.#entries[fd] !== undefined) fd++;
    this.#entries[fd] = entry;
    this.#open++;
    return fd;
  }

  /** Closes `fd` (its host fd too). */
  close(fd: number): ErrnoValue {
    const entry = this.#entries[fd];
    if (entry === undefined) return Errno.BADF;
    this.#changed = true;
    this.#entries[fd] = undefined;
    this.#open--;
    release(entry);
    return Errno.SUCCESS;
  }

  /** Moves `from` onto `to`, closing what `to` held (POSIX dup2 then close). */
  renumber(from: number, to: number): ErrnoValue {
    const entry = this.#entries[from];
    if (entry === undefined || this.#entries[to] === undefined) return Errno.BADF;
    if (from === to) return Errno.SUCCESS;
    this.close(to);
    this.#entries[to] = entry;
    this.#entries[from] = undefined;
    return Errno.SUCCESS;
  }

  /** The preopened directories, in fd order starting at 3. */
  get preopens(): readonly Preopen[] {
    return this.#preopens;
  }
}

/** Gives back what `entry` holds: a file's handle (and host fd), a directory's listing. */
function release(entry: FdEntry): void {
  if (entry.kind === 'file') {
    entry.file.close();
  } else if (entry.kind === 'directory' && entry.listing !== undefined) {
    entry.fs.forget(entry.listing);
    entry.listing = undefined;
  }
}
