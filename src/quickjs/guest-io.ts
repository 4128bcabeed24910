/**
 * The host's few operations on values in a QuickJS context: make a string, call the dispatcher
 * (`guest.ts`) with any number of arguments, copy byte buffers out of the guest and into it, and
 * hand over a value in the wire format (`values.ts`). Every `JSValue` here is a pointer QuickJS's
 * interface (`QTS_*`) allocated; nothing is freed, since every use ends with the memory reset.
 */
import { InternalError, InvalidArgumentError } from '../errors.js';
import { writeCString } from '../emscripten/c-strings.js';
import type { QuickJSExports } from './abi.js';
import type { ContextLayout } from './layout.js';
import type { Wire } from './values.js';

/** What these operations need: the exports, the memory and the context's layout. */
export interface Guest {
  readonly x: QuickJSExports;
  readonly memory: WebAssembly.Memory;
  readonly layout: Pick<ContextLayout, 'ctx' | 'dispatcher' | 'undefinedValue' | 'scratch'> & Partial<Pick<ContextLayout, 'stash'>>;
}

/** A new guest string (`JSValue*`) holding `text`. */
export function newString(guest: Guest, text: string): number {
  return guest.x.QTS_NewString(guest.layout.ctx, writeCString(guest.memory, guest.x.malloc, text).ptr);
}

/** Calls the dispatcher with `op` and up to two arguments (`JSValue*`s); returns what it returned (or an exception). */
export function callDispatcher(guest: Guest, op: number, a = 0, b = 0): number {
  const { x, memory, layout } = guest;
  const argv = layout.scratch;
  const words = new Uint32Array(memory.buffer, argv, 3);
  words[0] = op;
  words[1] = a;
  words[2] = b;
  const argc = b !== 0 ? 3 : a !== 0 ? 2 : 1;
  return x.QTS_Call(layout.ctx, layout.dispatcher, layout.undefinedValue, argc, argv);
}

/** Calls the guest function `fn` with `args` (`JSValue*`s). */
export function callFunction(guest: Guest, fn: number, args: readonly number[]): number {
  const { x, memory, layout } = guest;
  const argv = allocate(guest, Math.max(4, args.length * 4));
  new Uint32Array(memory.buffer, argv, args.length).set(args);
  return x.QTS_Call(layout.ctx, fn, layout.undefinedValue, args.length, argv);
}

/** A copy of the bytes of the guest's ArrayBuffer `value` (`JSValueConst*`). */
export function readBuffer(guest: Guest, value: number): ArrayBuffer {
  const { x, memory, layout } = guest;
  const length = x.QTS_GetArrayBufferLength(layout.ctx, value);
  if (length === 0) return new ArrayBuffer(0);
  const ptr = x.QTS_GetArrayBuffer(layout.ctx, value);
  if (ptr === 0)
    throw new InvalidArgumentError(`a buffer of ${length} bytes does not fit twice in the sandbox's memory; raise memoryLimit`);
  return memory.buffer.slice(ptr, ptr + length);
}

/** A new guest ArrayBuffer (`JSValue*`) holding a copy of `bytes`. */
export function newBuffer(guest: Guest, bytes: Uint8Array): number {
  const { x, memory, layout } = guest;
  const ptr = allocate(guest, bytes.byteLength);
  new Uint8Array(memory.buffer, ptr, bytes.byteLength).set(bytes);
  // QuickJS takes the block and frees it with the buffer.
  return x.QTS_NewArrayBuffer(layout.ctx, ptr, bytes.byteLength);
}

/**
 * `wire` handed to the guest: its buffers stashed (the next decode in the guest takes them) and its
 * text as a new guest string, returned.
 */
export function sendWire(guest: Guest, wire: Wire): number {
  stashBuffers(guest, wire.buffers);
  return newString(guest, wire.json);
}

/** Stashes `buffers` in the guest for the next decode (nothing when there are none). */
export function stashBuffers(guest: Guest, buffers: readonly Uint8Array[]): void {
  if (buffers.length === 0) return;
  const stash = guest.layout.stash;
  if (stash === undefined) throw new InternalError('buffers were sent before the context had its stash');
  callFunction(
    guest,
    stash,
    buffers.map((bytes) => newBuffer(guest, bytes)),
  );
}

function allocate(guest: Guest, bytes: number): number {
  const ptr = guest.x.malloc(Math.max(bytes, 1));
  if (ptr === 0) throw new InvalidArgumentError(`${bytes} bytes do not fit in the sandbox's memory; pass less, or raise memoryLimit`);
  return ptr;
}
