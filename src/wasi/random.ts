/**
 * random_get's entropy source. Web Crypto's getRandomValues refuses more than 65536 bytes per call
 * (QuotaExceededError), so large requests are filled in chunks.
 */

/** Fills `target` with random bytes. May be given a view straight into guest memory. */
export type RandomSource = (target: Uint8Array) => void;

const MAX_CHUNK = 65536;

/** Cryptographically secure bytes from `crypto.getRandomValues`, in chunks of at most 64 KiB. */
export const cryptoRandom: RandomSource = (target) => {
  for (let offset = 0; offset < target.length; offset += MAX_CHUNK) {
    globalThis.crypto.getRandomValues(target.subarray(offset, Math.min(offset + MAX_CHUNK, target.length)));
  }
};
