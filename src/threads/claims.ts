/**
 * The claim words of a thread's window: who gets a use posted behind the one a worker runs, the
 * worker (to start it) or the main thread (to take it back and run it elsewhere, or never). A
 * posted use's message cannot be recalled once sent, so the two sides settle it in shared memory,
 * with one compare-and-swap each: whichever swaps the word first has the use, and the other learns
 * it at once, without a message.
 *
 *     main: post() ──► POSTED ──worker: start()──► STARTED   (the use runs there; main learns it from
 *                        │                                   its answer, or from a failed takeBack)
 *                        └──main: takeBack()──► TAKEN        (the worker skips the message: never ran)
 *
 * Each word holds a slot's state and the tag of the post it belongs to, so that a slot can be given
 * to the next post as soon as its use was answered or taken back: a message of an old post that the
 * worker reads late finds another tag in its slot and is skipped, as a taken one is. A window of W
 * uses needs W slots (a use holds its slot from its post until its answer or take-back).
 */

const POSTED = 1;
const STARTED = 2;
const TAKEN = 3;
/** Tags wrap here, so that a tag and a state fit one Int32 word. */
const TAGS = 2 ** 29;

/** One post: where its claim word is, and the tag that says the word is still this post's. */
export interface Claim {
  readonly slot: number;
  readonly tag: number;
}

/** A thread's claim words; see the module comment. */
export class ClaimBoard {
  readonly buffer: SharedArrayBuffer;
  readonly #words: Int32Array;
  readonly #free: number[] = [];
  #posts = 0;

  private constructor(buffer: SharedArrayBuffer) {
    this.buffer = buffer;
    this.#words = new Int32Array(buffer);
  }

  /** A board for a thread whose window holds `window` uses (main thread). */
  static create(window: number): ClaimBoard {
    const board = new ClaimBoard(new SharedArrayBuffer(window * Int32Array.BYTES_PER_ELEMENT));
    for (let slot = window - 1; slot >= 0; slot--) board.#free.push(slot);
    return board;
  }

  /** The board whose memory is `buffer` (worker thread). */
  static attach(buffer: SharedArrayBuffer): ClaimBoard {
    return new ClaimBoard(buffer);
  }

  /** A claim for a use about to be posted (main thread); undefined when every slot is held (a full window). */
  post(): Claim | undefined {
    const slot = this.#free.pop();
    if (slot === undefined) return undefined;
    const tag = this.#posts;
    this.#posts = (this.#posts + 1) % TAGS;
    Atomics.store(this.#words, slot, word(tag, POSTED));
    return { slot, tag };
  }

  /** The post's message could not be sent: its slot is free again (main thread). */
  unpost(claim: Claim): void {
    Atomics.store(this.#words, claim.slot, 0);
    this.#free.push(claim.slot);
  }

  /**
   * Takes a posted use back (main thread): true when the worker has not started it and now never
   * will (its slot is free again); false when the worker started it first: it runs there.
   */
  takeBack(claim: Claim): boolean {
    const taken =
      Atomics.compareExchange(this.#words, claim.slot, word(claim.tag, POSTED), word(claim.tag, TAKEN)) === word(claim.tag, POSTED);
    if (taken) this.#free.push(claim.slot);
    return taken;
  }

  /** The use was answered: its slot is free for the next post (main thread). */
  release(claim: Claim): void {
    this.#free.push(claim.slot);
  }

  /** Claims a posted use for running (worker thread): false when it was taken back, and must not run. */
  start(slot: number, tag: number): boolean {
    return Atomics.compareExchange(this.#words, slot, word(tag, POSTED), word(tag, STARTED)) === word(tag, POSTED);
  }
}

function word(tag: number, state: number): number {
  return tag * 4 + state;
}
