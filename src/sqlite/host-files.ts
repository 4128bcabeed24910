/**
 * The only files SQLite ever sees, each for one moment and kept on the host: the database the
 * image is made from (read-only, while the image is made: `SqliteSandbox.create({ database })`
 * copies it into the in-memory database with SQLite's backup API), and the file a use exports its
 * database into (`export()`, the same API the other way). They live in the current use's state
 * (`UseState.files`), so a use that has none sees no file at all, and nothing of them outlives the
 * use.
 *
 * What the imports need of them is what SQLite's unix VFS asks through emscripten's syscalls:
 * open by path, `fstat`/`stat` (a regular file whose size is the data's, one link, its own inode),
 * seek, read, write, truncate, sync, and locks that always succeed (one process, one connection).
 */

/** One file: its path, its bytes, and whether a use may write it. */
export class HostFile {
  readonly path: string;
  readonly writable: boolean;
  /** Inode number `fstat` reports (SQLite tells files apart by it). */
  readonly inode: number;
  #data: Uint8Array;
  #size: number;
  /** Serve bytes 18 and 19 of the header as 1 (a WAL database read as a rollback one: there is no -wal file). */
  readonly #legacyHeader: boolean;

  constructor(path: string, inode: number, data: Uint8Array, options: { writable: boolean; legacyHeader?: boolean }) {
    this.path = path;
    this.inode = inode;
    this.writable = options.writable;
    this.#data = data;
    this.#size = data.length;
    this.#legacyHeader = options.legacyHeader ?? false;
  }

  /** Bytes in the file. */
  get size(): number {
    return this.#size;
  }

  /** The file's contents (a view: copy it to keep it). */
  contents(): Uint8Array {
    return this.#data.subarray(0, this.#size);
  }

  /** Copies up to `into.length` bytes from `position` into `into`; returns how many. */
  read(position: number, into: Uint8Array): number {
    const n = Math.max(0, Math.min(into.length, this.#size - position));
    into.set(this.#data.subarray(position, position + n));
    if (this.#legacyHeader && position <= 19 && position + n > 18) {
      for (const at of [18, 19]) if (at >= position && at < position + n) into[at - position] = 1;
    }
    return n;
  }

  /** Writes `bytes` at `position`, growing the file. */
  write(position: number, bytes: Uint8Array): void {
    const end = position + bytes.length;
    this.#reserve(end);
    this.#data.set(bytes, position);
    this.#size = Math.max(this.#size, end);
  }

  /** Sets the size: cut, or zero-extended. */
  truncate(size: number): void {
    this.#reserve(size);
    this.#data.fill(0, Math.min(size, this.#size), size);
    this.#size = size;
  }

  #reserve(size: number): void {
    if (size <= this.#data.length) return;
    const next = new Uint8Array(Math.max(size, this.#data.length * 2, 65536));
    next.set(this.#data.subarray(0, this.#size));
    this.#data = next;
  }
}

/** An open descriptor of a {@link HostFile}. */
export interface OpenHostFile {
  readonly file: HostFile;
  position: number;
}

/** The host files of one use (or of the image's making), and their open descriptors. */
export class HostFiles {
  /** Descriptors start here: SQLite refuses 0 to 2, and 3 is `/dev/urandom`. */
  static readonly FIRST_FD = 10;
  readonly #files = new Map<string, HostFile>();
  readonly #open = new Map<number, OpenHostFile>();
  #nextFd = HostFiles.FIRST_FD;

  /** Makes `file` visible at its path. */
  add(file: HostFile): HostFile {
    this.#files.set(file.path, file);
    return file;
  }

  /** The file at `path`, if there is one. */
  at(path: string): HostFile | undefined {
    return this.#files.get(path);
  }

  /** Opens `file`; returns its descriptor. */
  open(file: HostFile): number {
    const fd = this.#nextFd++;
    this.#open.set(fd, { file, position: 0 });
    return fd;
  }

  /** The open file behind `fd`, if it is one of these. */
  fd(fd: number): OpenHostFile | undefined {
    return this.#open.get(fd);
  }

  /** Closes `fd`; false when it is not one of these. */
  close(fd: number): boolean {
    return this.#open.delete(fd);
  }
}

/** Where `create({ database })` serves the database from while the image is made. */
export const DATABASE_PATH = '/cowpool/database';
/** Where `export()` has SQLite write a use's database. */
export const EXPORT_PATH = '/cowpool/export';
