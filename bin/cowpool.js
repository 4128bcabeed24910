#!/usr/bin/env node
/** The published entry point: the CLI lives in dist/ (built by `npm install` through `prepare`). */
import { main } from '../dist/cli/main.js';

main(process.argv.slice(2))
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
