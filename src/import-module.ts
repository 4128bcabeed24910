/**
 * Loading a user's module file (SQLite functions, host functions, a thread's per-use code) by URL,
 * from either of cowpool's builds. tsc turns `import()` into `require()` in the CommonJS build, and
 * `require()` loads neither ES modules nor `file:` URLs on Node 20; an `import()` that tsc does not
 * see (inside a `Function` body) stays the real one in both builds. The specifier must be absolute
 * (a `file:` URL): there is no module to resolve a relative one against.
 */

/** `import(url)`, the same in the ES and the CommonJS build. */
export const importModule = new Function('url', 'return import(url)') as (url: string) => Promise<Record<string, unknown>>;
