#!/usr/bin/env node
/**
 * The `cowpool` command. The published package runs the built CLI in dist/. A clone of the repository
 * that has not been built yet (`npm install` builds nothing) runs the TypeScript sources through tsx,
 * one of its dev dependencies, so that `npm install && npx cowpool serve examples/hello.wasm` works
 * in a fresh clone as the README says.
 */
import { existsSync } from 'node:fs';

const built = new URL('../dist/cli/main.js', import.meta.url);
const source = new URL('../src/cli/main.ts', import.meta.url);

/** The CLI's `main`, from dist/ when built, else from src/ (a fresh clone). */
async function loadMain() {
  if (existsSync(built) || !existsSync(source)) return (await import(built.href)).main;
  const { tsImport } = await import('tsx/esm/api');
  return (await tsImport(source.href, import.meta.url)).main;
}

loadMain()
  .then((main) => main(process.argv.slice(2)))
  .then(
    (code) => {
      if (typeof code === 'number') process.exitCode = code;
    },
    (err) => {
      console.error(err instanceof Error ? err.message : String(err));
      process.exitCode = 1;
    },
  )
  // A `serve --workers` worker's channel to its primary would keep the process alive.
  .finally(() => process.connected && process.disconnect());
