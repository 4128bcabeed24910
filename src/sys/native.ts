/**
 * The foreign-function bindings: the only file in cowpool that imports koffi. Everything here is
 * private to `sys/`; the rest of the project calls the checked wrappers in `sys/syscalls.ts`.
 *
 * Prototypes are declared with `void *` taking and returning BigInt addresses (koffi 3 represents
 * pointers as BigInt). `ioctl` and `fcntl` are variadic in C; they are declared here with a fixed
 * third argument, which is sound on the Linux x86-64 and AArch64 calling conventions for integer
 * and pointer arguments (the variadic callee reads them from the same registers) and avoids koffi's
 * slower variadic call path on the reset hot path.
 */
import { createRequire } from 'node:module';

/** koffi's surface as cowpool uses it. */
interface Koffi {
  load(path: string): { func(signature: string): (...args: unknown[]) => unknown };
  address(value: ArrayBufferLike | ArrayBufferView): bigint;
  view(address: bigint, length: number): ArrayBuffer;
  errno(): number;
  os: { errno: Record<string, number> };
}

/** Why native access failed to load, or undefined when it loaded. */
export let nativeLoadError: Error | undefined;

/** The bound libc functions, or undefined when koffi or libc could not be loaded. */
export interface LibC {
  mmap(addr: bigint, length: number, prot: number, flags: number, fd: number, offset: number): bigint;
  munmap(addr: bigint, length: number): number;
  madvise(addr: bigint, length: number, advice: number): number;
  memfd_create(name: string, flags: number): number;
  fcntl(fd: number, cmd: number, arg: number): number;
  ioctl(fd: number, request: number, arg: bigint): number;
  sysconf(name: number): number;
  address(buffer: ArrayBufferLike | ArrayBufferView): bigint;
  view(address: bigint, length: number): ArrayBuffer;
  errno(): number;
}

function bind(): LibC | undefined {
  if (process.platform !== 'linux') {
    nativeLoadError = new Error(`cowpool's native layer needs Linux; this is ${process.platform}`);
    return undefined;
  }
  let koffi: Koffi;
  let lib: ReturnType<Koffi['load']>;
  try {
    koffi = createRequire(import.meta.url)('koffi') as Koffi;
    lib = koffi.load('libc.so.6');
  } catch (err) {
    nativeLoadError = err instanceof Error ? err : new Error(String(err));
    return undefined;
  }
  const fn = lib.func.bind(lib);
  return {
    mmap: fn('void *mmap(void *addr, size_t length, int prot, int flags, int fd, int64_t offset)') as LibC['mmap'],
    munmap: fn('int munmap(void *addr, size_t length)') as LibC['munmap'],
    madvise: fn('int madvise(void *addr, size_t length, int advice)') as LibC['madvise'],
    memfd_create: fn('int memfd_create(const char *name, unsigned int flags)') as LibC['memfd_create'],
    fcntl: fn('int fcntl(int fd, int cmd, int arg)') as LibC['fcntl'],
    ioctl: fn('int ioctl(int fd, unsigned long request, void *arg)') as LibC['ioctl'],
    sysconf: fn('long sysconf(int name)') as LibC['sysconf'],
    address: (buffer) => koffi.address(buffer),
    view: (address, length) => koffi.view(address, length),
    errno: () => koffi.errno(),
  };
}

/** libc as loaded once per process. */
export const libc: LibC | undefined = bind();
