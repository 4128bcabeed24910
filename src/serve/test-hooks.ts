/**
 * Fault injection for the CGI server's own tests on worker threads, so that the paths a healthy
 * guest never takes run for real (no mock of V8 or of the thread layer): a handler created with
 * `{ [SERVE_TEST_HOOKS]: { … } }` passes these to its threads. Not exported from the package;
 * symbol-keyed, so it is not an option a user can misspell into.
 */

/** The key of the test hooks in the handler's options. */
export const SERVE_TEST_HOOKS = Symbol('cowpool.serve.testHooks');

/** What the threads do differently; data, since it is posted to them. */
export interface ServeTestHooks {
  /** A request for exactly this URL ends its worker thread (`process.exit(1)` there): a thread that dies. */
  exitOnUrl?: string;
  /** Give the threads' pools no deadline (the fuel counter never stops a guest), so that only the hard stop can end a loop. */
  uninterruptible?: boolean;
}
