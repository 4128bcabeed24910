// Calls a WasiHost's preview1 functions directly, the way a guest would, on a memory the test owns:
// file-system operations by path, each answering a short comparable string (the data, or `errno N`).
import { type WasiHost } from '../../src/wasi/wasi-host.ts';
import { Errno, Oflags, Rights } from '../../src/wasi/abi.ts';

type Fn = (...args: (number | bigint)[]) => number;

const PATH = 0x1000;
const PATH2 = 0x2000;
const DATA = 0x8000;
const DATA_SIZE = 0x8000;
const OUT = 0x100;
const IOV = 0x200;
const STAT = 0x300;
const FOLLOW = 1;
const READ_WRITE =
  Rights.FD_READ | Rights.FD_WRITE | Rights.FD_SEEK | Rights.FD_TELL | Rights.FD_FILESTAT_GET | Rights.FD_FILESTAT_SET_SIZE;

/** A host with a use begun, and its preopen at fd 3. */
export class WasiDriver {
  readonly host: WasiHost;
  readonly memory = new WebAssembly.Memory({ initial: 4 });
  readonly #wasi: Record<string, Fn>;

  constructor(host: WasiHost) {
    this.host = host;
    host.bindMemory(this.memory);
    this.#wasi = host.imports['wasi_snapshot_preview1'] as Record<string, Fn>;
    this.begin();
  }

  /** Starts a use (the constructor starts the first). */
  begin(): void {
    this.host.begin({ args: ['driver'], env: [], stdin: new Uint8Array(0), stdout: () => {}, stderr: () => {} });
  }

  /** Ends the use. */
  end(): void {
    this.host.end();
  }

  call(name: string, ...args: (number | bigint)[]): number {
    return (this.#wasi[name] as Fn)(...args);
  }

  get view(): DataView {
    return new DataView(this.memory.buffer);
  }
  get bytes(): Uint8Array {
    return new Uint8Array(this.memory.buffer);
  }

  #put(at: number, text: string): number {
    const encoded = new TextEncoder().encode(text);
    this.bytes.set(encoded, at);
    return encoded.length;
  }

  /** path_open on fd 3; the new fd, or `errno N`. */
  open(path: string, oflags = 0, rights: bigint = READ_WRITE, fdflags = 0, lookup = FOLLOW, dirFd = 3): number | string {
    const len = this.#put(PATH, path);
    const errno = this.call(
      'path_open',
      dirFd,
      lookup,
      PATH,
      len,
      oflags,
      rights,
      rights | Rights.PATH_OPEN | Rights.FD_READDIR,
      fdflags,
      OUT,
    );
    return errno === Errno.SUCCESS ? this.view.getUint32(OUT, true) : `errno ${errno}`;
  }

  /** Writes `text` at the fd's position (or its end with APPEND). */
  writeFd(fd: number, text: string): string {
    const len = this.#put(DATA, text);
    this.view.setUint32(IOV, DATA, true);
    this.view.setUint32(IOV + 4, len, true);
    const errno = this.call('fd_write', fd, IOV, 1, OUT);
    return errno === Errno.SUCCESS ? `wrote ${this.view.getUint32(OUT, true)}` : `errno ${errno}`;
  }

  /** Reads the fd to its end (at most 32 KiB). */
  readFd(fd: number): string {
    this.view.setUint32(IOV, DATA, true);
    this.view.setUint32(IOV + 4, DATA_SIZE, true);
    const errno = this.call('fd_read', fd, IOV, 1, OUT);
    if (errno !== Errno.SUCCESS) return `errno ${errno}`;
    return Buffer.from(this.bytes.subarray(DATA, DATA + this.view.getUint32(OUT, true))).toString();
  }

  close(fd: number): number {
    return this.call('fd_close', fd);
  }

  /** Creates or replaces the file `path` with `text` (open CREAT|TRUNC, write, close). */
  write(path: string, text: string, append = false): string {
    const fd = this.open(path, Oflags.CREAT | (append ? 0 : Oflags.TRUNC), READ_WRITE, append ? 1 : 0);
    if (typeof fd === 'string') return fd;
    const result = this.writeFd(fd, text);
    this.close(fd);
    return result;
  }

  /** The content of the file `path`. */
  read(path: string): string {
    const fd = this.open(path, 0, Rights.FD_READ);
    if (typeof fd === 'string') return fd;
    const result = this.readFd(fd);
    this.close(fd);
    return result;
  }

  /** Sets the size of the file `path` through fd_filestat_set_size. */
  truncate(path: string, size: number): string {
    const fd = this.open(path, 0, READ_WRITE);
    if (typeof fd === 'string') return fd;
    const errno = this.call('fd_filestat_set_size', fd, BigInt(size));
    this.close(fd);
    return `errno ${errno}`;
  }

  /** A path_* call taking one path on fd 3. */
  path(name: 'path_create_directory' | 'path_remove_directory' | 'path_unlink_file', path: string): string {
    const len = this.#put(PATH, path);
    return `errno ${this.call(name, 3, PATH, len)}`;
  }

  mkdir(path: string): string {
    return this.path('path_create_directory', path);
  }
  rmdir(path: string): string {
    return this.path('path_remove_directory', path);
  }
  unlink(path: string): string {
    return this.path('path_unlink_file', path);
  }

  rename(from: string, to: string): string {
    const a = this.#put(PATH, from);
    const b = this.#put(PATH2, to);
    return `errno ${this.call('path_rename', 3, PATH, a, 3, PATH2, b)}`;
  }

  link(from: string, to: string): string {
    const a = this.#put(PATH, from);
    const b = this.#put(PATH2, to);
    return `errno ${this.call('path_link', 3, 0, PATH, a, 3, PATH2, b)}`;
  }

  symlink(target: string, path: string): string {
    const a = this.#put(PATH, target);
    const b = this.#put(PATH2, path);
    return `errno ${this.call('path_symlink', PATH, a, 3, PATH2, b)}`;
  }

  /** `type size` of `path` (filetype number and size; symlinks not followed), or `errno N`. */
  stat(path: string, follow = false): string {
    const len = this.#put(PATH, path);
    const errno = this.call('path_filestat_get', 3, follow ? FOLLOW : 0, PATH, len, STAT);
    if (errno !== Errno.SUCCESS) return `errno ${errno}`;
    const type = this.view.getUint8(STAT + 16);
    // A directory's size is whatever the file system says; only files and links are compared.
    return type === 3 ? 'dir' : `type ${type} size ${this.view.getBigUint64(STAT + 32, true)}`;
  }

  /** The sorted names in directory `path` (without . and ..), or `errno N`. */
  list(path: string): string {
    const fd = this.open(path, Oflags.DIRECTORY, Rights.FD_READDIR | Rights.PATH_OPEN);
    if (typeof fd === 'string') return fd;
    const errno = this.call('fd_readdir', fd, DATA, DATA_SIZE, 0n, OUT);
    this.close(fd);
    if (errno !== Errno.SUCCESS) return `errno ${errno}`;
    const used = this.view.getUint32(OUT, true);
    const names: string[] = [];
    for (let p = DATA; p < DATA + used;) {
      const length = this.view.getUint32(p + 16, true);
      names.push(Buffer.from(this.bytes.subarray(p + 24, p + 24 + length)).toString());
      p += 24 + length;
    }
    return names
      .filter((n) => n !== '.' && n !== '..')
      .sort()
      .join(',');
  }

  readlink(path: string): string {
    const len = this.#put(PATH, path);
    const errno = this.call('path_readlink', 3, PATH, len, DATA, 256, OUT);
    if (errno !== Errno.SUCCESS) return `errno ${errno}`;
    return Buffer.from(this.bytes.subarray(DATA, DATA + this.view.getUint32(OUT, true))).toString();
  }

  /** Everything beneath `path` as seen through WASI: one line per entry, recursively. */
  tree(path = '.'): string[] {
    const lines: string[] = [];
    const walk = (dir: string) => {
      const listing = this.list(dir);
      if (listing.startsWith('errno')) return void lines.push(`${dir}: ${listing}`);
      for (const name of listing === '' ? [] : listing.split(',')) {
        const child = dir === '.' ? name : `${dir}/${name}`;
        const stat = this.stat(child);
        if (stat === 'dir') {
          lines.push(`${child}/`);
          walk(child);
        } else if (stat.startsWith('type 7')) lines.push(`${child} -> ${this.readlink(child)}`);
        else lines.push(`${child} = ${JSON.stringify(this.read(child))}`);
      }
    };
    walk(path);
    return lines;
  }
}
