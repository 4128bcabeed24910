/**
 * A cache entry's bytes: a {@link PreparedPool} and the key it was stored under, checksummed.
 *
 *     0   "cowpool\0"             magic
 *     8   u32 format              ENTRY_FORMAT
 *     12  sha-256 of the payload  32 bytes
 *     44  payload                 v8.serialize({ key, prepared }), the image packed (below)
 *
 * The image span is mostly zeros (QuickJS's: 5 MiB, 200 KiB of data), so the payload holds only
 * its data runs, one after the other, and the span is rebuilt around them when read. Reading
 * trusts nothing: a short file, another format, a checksum or key that does not match, or a shape
 * `checkPreparedPool` refuses is not an entry (the caller prepares afresh and overwrites it).
 */
import { createHash } from 'node:crypto';
import { deserialize, serialize } from 'node:v8';
import { dataRuns, type DataRun } from '../../memory/data-pages.js';
import { checkPreparedPool, type PreparedPool } from '../prepared-pool.js';
import { ENTRY_FORMAT } from './key.js';

const MAGIC = Buffer.from('cowpool\0', 'latin1');
const HEADER_BYTES = MAGIC.length + 4 + 32;

/** The image as an entry holds it: the data runs' bytes back to back. */
interface PackedImage {
  readonly start: number;
  readonly length: number;
  readonly minimumBytes: number;
  readonly runs: readonly DataRun[];
  readonly data: Uint8Array;
}

/** `prepared` stored under `key`, as an entry's bytes. Throws when it cannot be cloned (see `isPortable`). */
export function encodeEntry(key: string, prepared: PreparedPool): Buffer {
  const image = prepared.image;
  let packed: PackedImage | undefined;
  if (image) {
    const runs = image.runs ?? dataRuns(image.bytes);
    const data = new Uint8Array(runs.reduce((sum, r) => sum + r.end - r.start, 0));
    let at = 0;
    for (const r of runs) {
      data.set(image.bytes.subarray(r.start, r.end), at);
      at += r.end - r.start;
    }
    packed = { start: image.start, length: image.bytes.length, minimumBytes: image.minimumBytes, runs, data };
  }
  // A view is serialized with its whole buffer: give the serializer arrays of their own.
  const bytes =
    prepared.bytes.byteOffset === 0 && prepared.bytes.byteLength === prepared.bytes.buffer.byteLength
      ? prepared.bytes
      : prepared.bytes.slice();
  const payload = serialize({ key, prepared: { bytes, plan: prepared.plan, image: packed, initialization: prepared.initialization } });
  const header = Buffer.alloc(HEADER_BYTES);
  MAGIC.copy(header, 0);
  header.writeUInt32LE(ENTRY_FORMAT, MAGIC.length);
  createHash('sha256')
    .update(payload)
    .digest()
    .copy(header, MAGIC.length + 4);
  return Buffer.concat([header, payload]);
}

/** The prepared pool in `file` if it is an intact entry stored under `key`, else why not. */
export function decodeEntry(key: string, file: Buffer): PreparedPool | string {
  if (file.length < HEADER_BYTES || !file.subarray(0, MAGIC.length).equals(MAGIC)) return 'not a cowpool cache entry';
  if (file.readUInt32LE(MAGIC.length) !== ENTRY_FORMAT) return `entry format ${file.readUInt32LE(MAGIC.length)}, not ${ENTRY_FORMAT}`;
  const payload = file.subarray(HEADER_BYTES);
  const sum = createHash('sha256').update(payload).digest();
  if (!sum.equals(file.subarray(MAGIC.length + 4, HEADER_BYTES))) return 'its checksum does not match (truncated or damaged)';
  let stored: { key?: unknown; prepared?: { image?: PackedImage } & Record<string, unknown> };
  try {
    stored = deserialize(payload) as typeof stored;
  } catch (err) {
    return `it does not deserialize: ${(err as Error).message}`;
  }
  if (stored?.key !== key) return 'it was stored under another key';
  try {
    const packed = stored.prepared?.image;
    const image = packed === undefined ? undefined : unpack(packed);
    return checkPreparedPool({ ...stored.prepared, image });
  } catch (err) {
    return (err as Error).message;
  }
}

/** The span rebuilt around its data runs (a new array reads as zeros; only the data is written). */
function unpack(packed: PackedImage): { start: number; bytes: Uint8Array; minimumBytes: number; runs: readonly DataRun[] } {
  const { start, length, minimumBytes, runs, data } = packed;
  if (!Number.isSafeInteger(length) || length < 0 || !Array.isArray(runs) || !(data instanceof Uint8Array))
    throw new Error('its image is damaged');
  const bytes = new Uint8Array(length);
  let at = 0;
  for (const r of runs) {
    const size = r.end - r.start;
    if (!(size > 0) || r.start < 0 || r.end > length || at + size > data.length) throw new Error('its image runs do not fit');
    bytes.set(data.subarray(at, at + size), r.start);
    at += size;
  }
  if (at !== data.length) throw new Error('its image has bytes beyond its runs');
  return { start, bytes, minimumBytes, runs };
}
