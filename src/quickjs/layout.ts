/**
 * Where things are in a QuickJS image: the addresses of the runtime, the context, the dispatcher
 * and the other values every use reaches, the same for every use since the image is. The image
 * (`image.ts`) makes them; a use (`session.ts`) and what it calls into the guest with read them.
 */
import type { GuestOp } from './guest.js';

/** Addresses in the image that every use starts from (constants: the image is the same for all). */
export interface ContextLayout {
  /** `JSRuntime*`. */
  readonly rt: number;
  /** `JSContext*`. */
  readonly ctx: number;
  /** `JSValue*` of the dispatcher function (`guest.ts`). */
  readonly dispatcher: number;
  /** `JSValueConst*` of `undefined`. */
  readonly undefinedValue: number;
  /** Address of the context's `Math.random` state, which every use seeds afresh. */
  readonly randomState: number;
  /** `JSValue*` of the dispatcher's operation names (`GuestOp`), made once. */
  readonly ops: { readonly [K in keyof typeof GuestOp]: number };
  /** Room for the dispatcher's argument pointers and `ExecutePendingJob`'s out-parameter. */
  readonly scratch: number;
  /** The C string `eval.js`, the default file name. */
  readonly defaultFilename: number;
  /** `JSValue*` of the guest's array of logged lines, which only its console can reach. */
  readonly logs: number;
  /** `JSValue*` of the guest's stash function, which keeps buffers for its next decode. */
  readonly stash: number;
}

/** Bytes of {@link ContextLayout.scratch}: three argument pointers and one out-parameter. */
export const SCRATCH_BYTES = 16;
/** The file name of evaluated code unless a use names it. */
export const DEFAULT_FILENAME = 'eval.js';
