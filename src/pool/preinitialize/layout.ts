/**
 * Stage 4 of pre-initialization: from a {@link Snapshot} to what the pool is built from, still as
 * plain data: the image span (the memory's non-zero bytes where they lie, and the memory's size)
 * and the {@link Initialization} the pool's one rewrite bakes in (the globals' starting values,
 * the memory's initial size, the start function gone). The image is made from the memory itself:
 * no detour through data segments written into a module and parsed back.
 *
 * The memory's size is what initialization left, or more: a host asks for room above the last
 * non-zero byte for a use's heap (`headroom`), refused with the numbers when the module's maximum
 * cannot hold it.
 */
import { InvalidArgumentError } from '../../errors.js';
import { bytesToPages, pagesToBytes } from '../../module/wasm-page.js';
import type { ImageSpan, Initialization } from '../prepare.js';
import type { FunctionInitializer } from './initializer.js';
import type { Snapshot } from './snapshot.js';

/** The image span and the rewrite's initialization from `snapshot`; see the module comment. */
export function layOut(
  snapshot: Snapshot,
  maximumPages: number | undefined,
  headroom: FunctionInitializer['headroom'],
): { span: ImageSpan | undefined; init: Initialization } {
  const memory = snapshot.memory;
  if (!memory) return { span: undefined, init: { globals: snapshot.globals } };
  const pages = bytesToPages(Math.max(memory.size, memory.usedBytes + (headroom?.bytes ?? 0)));
  if (headroom && maximumPages !== undefined && pages > maximumPages) {
    throw new InvalidArgumentError(
      `${headroom.option} leaves no room: the memory can hold at most ${pagesToBytes(maximumPages)} bytes (the module's maximum), ` +
        `initialization left ${memory.usedBytes} in use, and a use needs ${headroom.bytes} more for this ${headroom.option}`,
    );
  }
  return {
    span: { start: memory.start, bytes: memory.bytes, minimumBytes: pagesToBytes(pages), runs: memory.runs },
    init: { initialPages: pages, globals: snapshot.globals },
  };
}
