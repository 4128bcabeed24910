/**
 * An open regular file, whichever layer holds it: a host fd (read-only views, persistent
 * directories, and overlay files only read) or an in-memory file of the overlay.
 */
import { closeSync, constants, fstatSync, fsyncSync, ftruncateSync, futimesSync, openSync, readSync, writeSync } from 'node:fs';
import { Errno } from '../abi.js';
import { fail } from '../errno-error.js';
import { hostFilestat, memFilestat, type Filestat } from './filestat.js';
import type { HostNode, MemFile } from './fs-node.js';
import type { OverlayBudget } from './overlay-budget.js';

/** Times to set: a value in ns, `'now'`, or undefined to leave it. */
export type TimeUpdate = bigint | 'now' | undefined;

/** A regular file opened by the guest. Errors are thrown (host errors or ErrnoError). */
export interface OpenFile {
  /** Reads into `into` from `position`; returns the bytes read (0 at the end). */
  read(into: Uint8Array, position: number): number;
  /** Writes `from` at `position` (growing the file as needed); returns the bytes written. */
  write(from: Uint8Array, position: number): number;
  /** The current size in bytes. */
  size(): number;
  /** Sets the size, zero-filling when it grows. */
  truncate(size: number): void;
  stat(): Filestat;
  setTimes(atim: TimeUpdate, mtim: TimeUpdate, now: bigint): void;
  sync(): void;
  close(): void;
}

/** A file behind a host fd. `readOnly` (a read-only preopen) refuses every change with EROFS. */
export class HostFile implements OpenFile {
  readonly fd: number;
  readonly #readOnly: boolean;
  constructor(fd: number, readOnly = false) {
    this.fd = fd;
    this.#readOnly = readOnly;
  }
  read(into: Uint8Array, position: number): number {
    // One read(2): a short count is the end of the file (or all there is now), as the guest expects.
    return readSync(this.fd, into, 0, into.length, position);
  }
  write(from: Uint8Array, position: number): number {
    if (this.#readOnly) fail(Errno.ROFS);
    let total = 0;
    while (total < from.length) total += writeSync(this.fd, from, total, from.length - total, position + total);
    return total;
  }
  size(): number {
    return Number(fstatSync(this.fd, { bigint: true }).size);
  }
  truncate(size: number): void {
    if (this.#readOnly) fail(Errno.ROFS);
    ftruncateSync(this.fd, size);
  }
  stat(): Filestat {
    return hostFilestat(fstatSync(this.fd, { bigint: true }));
  }
  setTimes(atim: TimeUpdate, mtim: TimeUpdate, now: bigint): void {
    // futimes works on any fd of a file one owns, so a read-only view must refuse it itself.
    if (this.#readOnly) fail(Errno.ROFS);
    const current = fstatSync(this.fd, { bigint: true });
    futimesSync(this.fd, seconds(atim, current.atimeNs, now), seconds(mtim, current.mtimeNs, now));
  }
  sync(): void {
    fsyncSync(this.fd);
  }
  close(): void {
    try {
      closeSync(this.fd);
    } catch {
      // EBADF is the only realistic failure and changes nothing for the guest.
    }
  }
}

/**
 * Opens the host file `node` names with `flags` (plus O_NOFOLLOW and O_NONBLOCK), then checks
 * that it is still the regular file that was looked up: EAGAIN when the file changed under us.
 */
export function openHostFile(node: HostNode, flags: number, readOnly: boolean): HostFile {
  const fd = openSync(node.path, flags | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  const opened = fstatSync(fd, { bigint: true });
  if (!opened.isFile() || opened.ino !== node.stats.ino || opened.dev !== node.stats.dev) {
    closeSync(fd);
    fail(Errno.AGAIN);
  }
  return new HostFile(fd, readOnly);
}

/** What a {@link CopyOnWriteFile} asks the overlay about the file it was opened on. */
export interface CopySource {
  /** Changes whenever a host file is copied into the overlay: until it does, there is nothing to look for. */
  readonly copies: number;
  /** A handle on the overlay's copy of `origin`, if this use made one, else undefined. */
  copyOf(origin: FileOrigin): OpenFile | undefined;
  /** Copies `origin` into the overlay (or finds the copy) and returns a handle on it. */
  copyUp(origin: FileOrigin): OpenFile;
}

/** Where a host file was opened: the opaque directory node it was found in, its name and inode. */
export interface FileOrigin {
  readonly parent: unknown;
  readonly name: string;
  readonly node: unknown;
}

/**
 * An overlay file opened without asking to change it: read through a host fd (nothing copied), and
 * copied into the overlay at the first change made through this fd (only times can be: write and
 * size rights were not asked for). Once the file is in the overlay, from this fd or another, every
 * call goes there, so all fds see one file.
 */
export class CopyOnWriteFile implements OpenFile {
  #current: OpenFile;
  #copied = false;
  readonly #source: CopySource;
  readonly #origin: FileOrigin;
  #copiesSeen: number;

  constructor(host: HostFile, source: CopySource, origin: FileOrigin) {
    this.#current = host;
    this.#source = source;
    this.#origin = origin;
    this.#copiesSeen = source.copies;
  }
  read(into: Uint8Array, position: number): number {
    return this.#reading().read(into, position);
  }
  write(from: Uint8Array, position: number): number {
    return this.#changing().write(from, position);
  }
  size(): number {
    return this.#reading().size();
  }
  truncate(size: number): void {
    this.#changing().truncate(size);
  }
  stat(): Filestat {
    return this.#reading().stat();
  }
  setTimes(atim: TimeUpdate, mtim: TimeUpdate, now: bigint): void {
    this.#changing().setTimes(atim, mtim, now);
  }
  sync(): void {}
  close(): void {
    this.#current.close();
  }

  #reading(): OpenFile {
    // Look for a copy only when one was made since the last look (usually never: one compare).
    if (!this.#copied && this.#source.copies !== this.#copiesSeen) {
      this.#copiesSeen = this.#source.copies;
      const copy = this.#source.copyOf(this.#origin);
      if (copy !== undefined) this.#switch(copy);
    }
    return this.#current;
  }
  #changing(): OpenFile {
    if (!this.#copied) this.#switch(this.#source.copyOf(this.#origin) ?? this.#source.copyUp(this.#origin));
    return this.#current;
  }
  #switch(to: OpenFile): void {
    this.#current.close();
    this.#current = to;
    this.#copied = true;
  }
}

/** The largest in-memory file (a Uint8Array's practical limit, far above any sane overlay budget). */
const MAX_MEM_FILE = 2 ** 31;

/**
 * A handle on an overlay file: every fd on it shares the one {@link MemFile}. The file counts its
 * open handles, so that its bytes stay charged while one is open, even after its last name is gone.
 */
export class MemFileHandle implements OpenFile {
  readonly file: MemFile;
  readonly #budget: OverlayBudget;
  readonly #dev: bigint;
  readonly #clock: () => bigint;
  #closed = false;

  constructor(file: MemFile, budget: OverlayBudget, dev: bigint, clock: () => bigint) {
    this.file = file;
    this.#budget = budget;
    this.#dev = dev;
    this.#clock = clock;
    file.handles++;
  }
  read(into: Uint8Array, position: number): number {
    const file = this.file;
    if (position >= file.size) return 0;
    const n = Math.min(into.length, file.size - position);
    into.set(file.data.subarray(position, position + n));
    return n;
  }
  write(from: Uint8Array, position: number): number {
    const end = position + from.length;
    if (end > this.file.size) this.#resize(end);
    this.file.data.set(from, position);
    this.file.mtim = this.file.ctim = this.#clock();
    return from.length;
  }
  size(): number {
    return this.file.size;
  }
  truncate(size: number): void {
    if (size !== this.file.size) this.#resize(size);
    this.file.mtim = this.file.ctim = this.#clock();
  }
  stat(): Filestat {
    return memFilestat(this.file, this.#dev);
  }
  setTimes(atim: TimeUpdate, mtim: TimeUpdate, now: bigint): void {
    if (atim !== undefined) this.file.atim = atim === 'now' ? now : atim;
    if (mtim !== undefined) this.file.mtim = mtim === 'now' ? now : mtim;
    this.file.ctim = now;
  }
  sync(): void {}
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.file.handles--;
    this.#budget.releaseIfUnreferenced(this.file);
  }

  /**
   * Sets the content size to `size`; new bytes read as 0. The buffer grows by doubling (appends
   * stay linear), but never past what the budget has left when the exact size still fits; it
   * shrinks when the content would fill less than half of it. The budget is charged for the
   * buffer's length, what the file really holds, before the buffer is made.
   */
  #resize(size: number): void {
    if (size > MAX_MEM_FILE) fail(Errno.FBIG);
    const file = this.file;
    const capacity = file.data.length;
    if (size > capacity) {
      const doubled = Math.min(MAX_MEM_FILE, Math.max(size, capacity * 2));
      const grown = doubled - capacity <= this.#budget.available ? doubled : size;
      this.#budget.charge(grown - capacity);
      const data = new Uint8Array(grown);
      data.set(file.data.subarray(0, file.size));
      file.data = data;
    } else if (size < capacity / 2) {
      const data = new Uint8Array(size);
      data.set(file.data.subarray(0, Math.min(size, file.size)));
      file.data = data;
      this.#budget.release(capacity - size);
    } else if (size < file.size) {
      file.data.fill(0, size, file.size);
    }
    file.size = size;
  }
}

/** Seconds for futimes/utimes: the update, or the current value when it is left alone. */
export function seconds(update: TimeUpdate, currentNs: bigint, now: bigint): number {
  const ns = update === undefined ? currentNs : update === 'now' ? now : update;
  return Number(ns) / 1e9;
}
