// Host functions of examples/quickjs-threads.mjs, as a module file: the form worker threads load
// (a thread cannot be handed a function). `this.context` is the use's context, copied to the thread.
export async function lookup(key) {
  return `${key} for ${this.context.tenant}`;
}
