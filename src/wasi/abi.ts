/**
 * The numbers of the WASI preview1 ABI (`wasi_snapshot_preview1`), as the witx files define them and
 * wasi-libc's <wasi/api.h> checks them with _Static_assert. Everything here is data the guest reads
 * or writes: changing a value breaks every compiled guest, so each one is spelled out, not derived.
 */

/** The import module name every preview1 guest links against. */
export const WASI_MODULE = 'wasi_snapshot_preview1';

/** `errno`: the u16 every preview1 function returns. Only the values cowpool returns are used, all are listed. */
export const Errno = {
  SUCCESS: 0,
  TOOBIG: 1, // witx `2big`: argument list too long
  ACCES: 2,
  ADDRINUSE: 3,
  ADDRNOTAVAIL: 4,
  AFNOSUPPORT: 5,
  AGAIN: 6,
  ALREADY: 7,
  BADF: 8,
  BADMSG: 9,
  BUSY: 10,
  CANCELED: 11,
  CHILD: 12,
  CONNABORTED: 13,
  CONNREFUSED: 14,
  CONNRESET: 15,
  DEADLK: 16,
  DESTADDRREQ: 17,
  DOM: 18,
  DQUOT: 19,
  EXIST: 20,
  FAULT: 21,
  FBIG: 22,
  HOSTUNREACH: 23,
  IDRM: 24,
  ILSEQ: 25,
  INPROGRESS: 26,
  INTR: 27,
  INVAL: 28,
  IO: 29,
  ISCONN: 30,
  ISDIR: 31,
  LOOP: 32,
  MFILE: 33,
  MLINK: 34,
  MSGSIZE: 35,
  MULTIHOP: 36,
  NAMETOOLONG: 37,
  NETDOWN: 38,
  NETRESET: 39,
  NETUNREACH: 40,
  NFILE: 41,
  NOBUFS: 42,
  NODEV: 43,
  NOENT: 44,
  NOEXEC: 45,
  NOLCK: 46,
  NOLINK: 47,
  NOMEM: 48,
  NOMSG: 49,
  NOPROTOOPT: 50,
  NOSPC: 51,
  NOSYS: 52,
  NOTCONN: 53,
  NOTDIR: 54,
  NOTEMPTY: 55,
  NOTRECOVERABLE: 56,
  NOTSOCK: 57,
  NOTSUP: 58,
  NOTTY: 59,
  NXIO: 60,
  OVERFLOW: 61,
  OWNERDEAD: 62,
  PERM: 63,
  PIPE: 64,
  PROTO: 65,
  PROTONOSUPPORT: 66,
  PROTOTYPE: 67,
  RANGE: 68,
  ROFS: 69,
  SPIPE: 70,
  SRCH: 71,
  STALE: 72,
  TIMEDOUT: 73,
  TXTBSY: 74,
  XDEV: 75,
  NOTCAPABLE: 76,
} as const;

/** One of the {@link Errno} values. */
export type ErrnoValue = (typeof Errno)[keyof typeof Errno];

/** `clockid`. */
export const ClockId = {
  REALTIME: 0,
  MONOTONIC: 1,
  PROCESS_CPUTIME_ID: 2,
  THREAD_CPUTIME_ID: 3,
} as const;

/** `filetype` (u8). */
export const Filetype = {
  UNKNOWN: 0,
  BLOCK_DEVICE: 1,
  CHARACTER_DEVICE: 2,
  DIRECTORY: 3,
  REGULAR_FILE: 4,
  SOCKET_DGRAM: 5,
  SOCKET_STREAM: 6,
  SYMBOLIC_LINK: 7,
} as const;

/** `fdflags` (u16). */
export const Fdflags = {
  APPEND: 1 << 0,
  DSYNC: 1 << 1,
  NONBLOCK: 1 << 2,
  RSYNC: 1 << 3,
  SYNC: 1 << 4,
} as const;

/** `oflags` (u16), the `path_open` creation flags. */
export const Oflags = {
  CREAT: 1 << 0,
  DIRECTORY: 1 << 1,
  EXCL: 1 << 2,
  TRUNC: 1 << 3,
} as const;

/** `fstflags` (u16), which times `*_filestat_set_times` changes. */
export const Fstflags = {
  ATIM: 1 << 0,
  ATIM_NOW: 1 << 1,
  MTIM: 1 << 2,
  MTIM_NOW: 1 << 3,
} as const;

/** `lookupflags` (u32). */
export const Lookupflags = {
  SYMLINK_FOLLOW: 1 << 0,
} as const;

/** `whence` (u8) for `fd_seek`. */
export const Whence = {
  SET: 0,
  CUR: 1,
  END: 2,
} as const;

/** `eventtype` (u8), the tag of a subscription and of an event. */
export const Eventtype = {
  CLOCK: 0,
  FD_READ: 1,
  FD_WRITE: 2,
} as const;

/** `subclockflags` (u16). */
export const Subclockflags = {
  SUBSCRIPTION_CLOCK_ABSTIME: 1 << 0,
} as const;

/** `eventrwflags` (u16). */
export const Eventrwflags = {
  FD_READWRITE_HANGUP: 1 << 0,
} as const;

/** `preopentype` (u8). */
export const Preopentype = {
  DIR: 0,
} as const;

/** `rights` (u64) bits. Kept as bigint because the ABI passes and stores them as u64. */
export const Rights = {
  FD_DATASYNC: 1n << 0n,
  FD_READ: 1n << 1n,
  FD_SEEK: 1n << 2n,
  FD_FDSTAT_SET_FLAGS: 1n << 3n,
  FD_SYNC: 1n << 4n,
  FD_TELL: 1n << 5n,
  FD_WRITE: 1n << 6n,
  FD_ADVISE: 1n << 7n,
  FD_ALLOCATE: 1n << 8n,
  PATH_CREATE_DIRECTORY: 1n << 9n,
  PATH_CREATE_FILE: 1n << 10n,
  PATH_LINK_SOURCE: 1n << 11n,
  PATH_LINK_TARGET: 1n << 12n,
  PATH_OPEN: 1n << 13n,
  FD_READDIR: 1n << 14n,
  PATH_READLINK: 1n << 15n,
  PATH_RENAME_SOURCE: 1n << 16n,
  PATH_RENAME_TARGET: 1n << 17n,
  PATH_FILESTAT_GET: 1n << 18n,
  PATH_FILESTAT_SET_SIZE: 1n << 19n,
  PATH_FILESTAT_SET_TIMES: 1n << 20n,
  FD_FILESTAT_GET: 1n << 21n,
  FD_FILESTAT_SET_SIZE: 1n << 22n,
  FD_FILESTAT_SET_TIMES: 1n << 23n,
  PATH_SYMLINK: 1n << 24n,
  PATH_REMOVE_DIRECTORY: 1n << 25n,
  PATH_UNLINK_FILE: 1n << 26n,
  POLL_FD_READWRITE: 1n << 27n,
  SOCK_SHUTDOWN: 1n << 28n,
  SOCK_ACCEPT: 1n << 29n,
} as const;

/**
 * Rights whose request means "I want to modify the file". wasi-libc sets exactly these four from
 * `O_WRONLY`/`O_RDWR` (it clears them for `O_RDONLY`), so they are how a read-only host tells a
 * write open from a read open. Other write-ish bits (e.g. PATH_CREATE_FILE) are inherited by every
 * open and say nothing about intent.
 */
export const WRITE_INTENT_RIGHTS = Rights.FD_WRITE | Rights.FD_DATASYNC | Rights.FD_ALLOCATE | Rights.FD_FILESTAT_SET_SIZE;

/** What a regular file opened for reading can do. */
export const READ_ONLY_FILE_RIGHTS =
  Rights.FD_READ |
  Rights.FD_SEEK |
  Rights.FD_TELL |
  Rights.FD_FDSTAT_SET_FLAGS |
  Rights.FD_SYNC |
  Rights.FD_ADVISE |
  Rights.FD_FILESTAT_GET |
  Rights.POLL_FD_READWRITE;

/** What a directory can do without changing anything. */
export const READ_ONLY_DIRECTORY_RIGHTS =
  Rights.FD_FDSTAT_SET_FLAGS |
  Rights.FD_SYNC |
  Rights.PATH_OPEN |
  Rights.FD_READDIR |
  Rights.PATH_READLINK |
  Rights.PATH_FILESTAT_GET |
  Rights.FD_FILESTAT_GET;

/** Rights of fd 0. No FD_SEEK/FD_TELL: a stream, like the pipe a CGI script gets. */
export const STDIN_RIGHTS = Rights.FD_READ | Rights.FD_FDSTAT_SET_FLAGS | Rights.FD_FILESTAT_GET | Rights.POLL_FD_READWRITE;

/** Rights of fds 1 and 2. */
export const STDOUT_RIGHTS = Rights.FD_WRITE | Rights.FD_FDSTAT_SET_FLAGS | Rights.FD_FILESTAT_GET | Rights.POLL_FD_READWRITE;

/** Byte sizes and field offsets of the preview1 structs the host reads or writes. */
export const Layout = {
  /** `iovec`/`ciovec`: buf u32 @0, buf_len u32 @4. */
  IOVEC_SIZE: 8,
  /** `fdstat`: filetype u8 @0, flags u16 @2, rights_base u64 @8, rights_inheriting u64 @16. */
  FDSTAT_SIZE: 24,
  /** `filestat`: dev @0, ino @8, filetype u8 @16, nlink @24, size @32, atim @40, mtim @48, ctim @56. */
  FILESTAT_SIZE: 64,
  /** `prestat`: tag u8 @0, pr_name_len u32 @4. */
  PRESTAT_SIZE: 8,
  /** `dirent` header: d_next u64 @0, d_ino u64 @8, d_namlen u32 @16, d_type u8 @20; name follows. */
  DIRENT_SIZE: 24,
  /**
   * `subscription`: userdata u64 @0, tag u8 @8, union @16 (clock: id u32 @16, timeout u64 @24,
   * precision u64 @32, flags u16 @40; fd: u32 @16).
   */
  SUBSCRIPTION_SIZE: 48,
  /** `event`: userdata u64 @0, error u16 @8, type u8 @10, nbytes u64 @16, flags u16 @24. */
  EVENT_SIZE: 32,
} as const;

/**
 * Everything a regular file can do; what one fd may do is what it was opened asking for. The
 * rights are the same in every preopen mode: a read-only preopen answers a change with EROFS (what
 * a C program expects to see), not with ENOTCAPABLE.
 */
export const FILE_RIGHTS =
  READ_ONLY_FILE_RIGHTS |
  Rights.FD_WRITE |
  Rights.FD_DATASYNC |
  Rights.FD_ALLOCATE |
  Rights.FD_FILESTAT_SET_SIZE |
  Rights.FD_FILESTAT_SET_TIMES;

/** What a directory can do (in every preopen mode, like {@link FILE_RIGHTS}). */
export const DIRECTORY_RIGHTS =
  READ_ONLY_DIRECTORY_RIGHTS |
  Rights.FD_DATASYNC |
  Rights.FD_FILESTAT_SET_TIMES |
  Rights.PATH_CREATE_DIRECTORY |
  Rights.PATH_CREATE_FILE |
  Rights.PATH_LINK_SOURCE |
  Rights.PATH_LINK_TARGET |
  Rights.PATH_RENAME_SOURCE |
  Rights.PATH_RENAME_TARGET |
  Rights.PATH_FILESTAT_SET_SIZE |
  Rights.PATH_FILESTAT_SET_TIMES |
  Rights.PATH_SYMLINK |
  Rights.PATH_REMOVE_DIRECTORY |
  Rights.PATH_UNLINK_FILE;

/**
 * What a directory hands down to files and directories opened beneath it. It includes the write
 * bits on purpose: wasi-libc computes `rights = wanted & inheriting`, so without FD_WRITE here an
 * `open(path, O_WRONLY)` would silently become a read-only open and only fail at the first write.
 */
export const INHERITING_RIGHTS = FILE_RIGHTS | DIRECTORY_RIGHTS;
