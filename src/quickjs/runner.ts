/**
 * One QuickJS use as data, and what runs it on a pooled context: the kind-specific part of the
 * sandbox's engine (`sandbox/engine.ts`), the same on the calling thread and on a worker thread
 * (`thread-engine.ts`), since a request and its result are plain data.
 */
import type { InstanceHost } from '../pool/index.js';
import type { UseRunner } from '../sandbox/engine.js';
import { quickjsExports, type QuickJSExports } from './abi.js';
import type { QuickJSImage } from './image.js';
import { runRequest, type Request, type UseLimits, type UseResult } from './session.js';
import { UseState } from './use-state.js';

/** One use as data: what to run, within which limits, whether it may wait, and the context host functions see. */
export interface QuickJSRequest {
  readonly request: Request;
  readonly limits: UseLimits;
  /** True for the promise forms: the use may wait for a host function's promise. */
  readonly waits: boolean;
  readonly context: unknown;
}

/** Runs a {@link QuickJSRequest} on a pooled context (the engine's kind-specific part). */
export class QuickJSRunner implements UseRunner<QuickJSRequest, UseResult, UseState> {
  readonly #image: QuickJSImage;
  readonly #exports = new WeakMap<WebAssembly.Instance, QuickJSExports>();

  constructor(image: QuickJSImage) {
    this.#image = image;
  }

  context(use: QuickJSRequest): UseState {
    const state = new UseState();
    state.waits = use.waits;
    if (use.context !== undefined) state.context = use.context;
    return state;
  }

  run(
    instance: WebAssembly.Instance,
    host: InstanceHost<undefined, UseState>,
    state: UseState,
    use: QuickJSRequest,
  ): UseResult | Promise<UseResult> {
    let x = this.#exports.get(instance);
    if (x === undefined) {
      x = quickjsExports(instance);
      this.#exports.set(instance, x);
    }
    return runRequest(x, host.memory!, this.#image.layout, state, use.request, use.limits);
  }
}
