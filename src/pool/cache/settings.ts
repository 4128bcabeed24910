/**
 * Whether the cache of prepared pools is used, and where it lives: the `cache` option (of
 * `InstancePool.create` and the sandboxes) and the environment, decided here and nowhere else.
 *
 *     COWPOOL_CACHE=off (or 0, false, no)  no cache at all, whatever the options say: the operator's word
 *     options.cache: false                 no cache for this pool
 *     options.cache: { dir }               this directory
 *     COWPOOL_CACHE_DIR                    else this directory
 *     $XDG_CACHE_HOME/cowpool              else this (when XDG_CACHE_HOME is an absolute path)
 *     ~/.cache/cowpool                     else this
 *
 * The directory is made on first write. Entries go into a subdirectory per entry format
 * (`prepared-1/`), so that a cowpool with another format never reads them.
 */
import { homedir } from 'node:os';
import { isAbsolute, join } from 'node:path';
import { InvalidArgumentError } from '../../errors.js';
import { rejectUnknownKeys } from '../../options/validate.js';

/** The `cache` option: on (default), off, or on in a given directory. */
export type CacheOption = boolean | { readonly dir: string };

/** The option, checked: off, or on (in the option's directory, if it names one). */
export type CacheChoice = false | { readonly dir: string | undefined };

/** Where the cache is for a pool, or why there is none. */
export type CacheLocation = { readonly dir: string } | { readonly off: string };

/** The environment variables the cache reads. */
export const CACHE_ENV = { switch: 'COWPOOL_CACHE', dir: 'COWPOOL_CACHE_DIR' } as const;

const OFF = new Set(['0', 'off', 'false', 'no']);

/** `value` (the option at `path`) checked; see {@link CacheOption}. */
export function checkCacheOption(path: string, value: unknown): CacheChoice {
  if (value === undefined || value === true) return { dir: undefined };
  if (value === false) return false;
  if (typeof value !== 'object' || value === null) {
    throw new InvalidArgumentError(`${path} must be true, false or { dir }, not ${String(value)}`);
  }
  rejectUnknownKeys(value, ['dir'], path);
  const dir = (value as { dir?: unknown }).dir;
  if (typeof dir !== 'string' || dir === '') throw new InvalidArgumentError(`${path}.dir must be a directory path, not ${String(dir)}`);
  return { dir };
}

/** Where the cache is for `choice`, from the option and the environment; see the module comment. */
export function cacheLocation(choice: CacheChoice, env: NodeJS.ProcessEnv = process.env): CacheLocation {
  const switched = env[CACHE_ENV.switch];
  if (switched !== undefined && OFF.has(switched.trim().toLowerCase())) return { off: `${CACHE_ENV.switch}=${switched}` };
  if (choice === false) return { off: 'options.cache is false' };
  if (choice.dir !== undefined) return { dir: choice.dir };
  const fromEnv = env[CACHE_ENV.dir];
  if (fromEnv) return { dir: fromEnv };
  return defaultDir(env);
}

/** The default directory (XDG's cache home, else ~/.cache), or why there is none. */
function defaultDir(env: NodeJS.ProcessEnv): CacheLocation {
  const xdg = env.XDG_CACHE_HOME;
  if (xdg && isAbsolute(xdg)) return { dir: join(xdg, 'cowpool') };
  let home: string;
  try {
    home = homedir();
  } catch {
    return { off: 'no home directory to keep ~/.cache/cowpool in (set COWPOOL_CACHE_DIR)' };
  }
  return home ? { dir: join(home, '.cache', 'cowpool') } : { off: 'no home directory (set COWPOOL_CACHE_DIR)' };
}
