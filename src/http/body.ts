/**
 * A request's body, read within a size limit, for cowpool's HTTP servers (`cowpool serve` and
 * `cowpool quickjs serve`). A body past the limit is not read to its end: the server answers 413
 * ({@link bodyTooLarge}) and closes the connection, so that a client cannot make it buffer more.
 */
import type { IncomingMessage } from 'node:http';

/** The largest request body the servers accept unless told otherwise: 1 MiB. */
export const DEFAULT_MAX_BODY = 2 ** 20;

/**
 * Whether the request announces a body (Node discards the empty stream of one that does not, so a
 * server need not read it). Reads `rawHeaders`: `req.headers` is built lazily, and building it
 * costs more than this loop.
 */
export function hasBody(req: IncomingMessage): boolean {
  const raw = req.rawHeaders;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!;
    if (name.length === 14 && name.toLowerCase() === 'content-length') {
      if (raw[i + 1] !== '0') return true;
    } else if (name.length === 17 && name.toLowerCase() === 'transfer-encoding') return true;
  }
  return false;
}

/**
 * Why a body cannot be read: a handler mounted after a body parser (express.json(), say) finds the
 * stream already read, and what the parser made of it is not the bytes. The servers answer 500 with
 * {@link BODY_CONSUMED}'s words: it is the application's setup that must change, not the request.
 */
export class BodyConsumedError extends Error {
  constructor() {
    super('the request body was read before this handler');
    this.name = 'BodyConsumedError';
  }
}

/**
 * The whole body, or undefined when it passes `limit` bytes (announced by `Content-Length`, or
 * counted as it arrives); then the rest is not read. Rejects when the request fails while it is read
 * (the client went away), and with {@link BodyConsumedError} when another handler read the stream
 * and left no bytes behind (express.raw() and express.text() leave them in `req.body`: those are used).
 */
export function readBody(req: IncomingMessage & { body?: unknown }, limit: number): Promise<Buffer | undefined> {
  if (req.readableEnded) {
    const earlier = typeof req.body === 'string' ? Buffer.from(req.body) : req.body instanceof Buffer ? req.body : undefined;
    if (earlier === undefined) return Promise.reject(new BodyConsumedError());
    return Promise.resolve(earlier.length > limit ? undefined : earlier);
  }
  if (Number(req.headers['content-length'] ?? 0) > limit) return Promise.resolve(undefined);
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) {
        resolve(undefined);
        req.pause();
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => resolve(size > limit ? undefined : chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks)));
    req.on('error', reject);
  });
}
