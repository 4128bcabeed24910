/**
 * The `wasi_snapshot_preview1` import object: every function preview1 defines, so any preview1
 * module links, each closed over one WasiState and built once.
 */

import { WASI_MODULE } from './abi.js';
import { argsCalls } from './calls-args.js';
import { clockCalls } from './calls-clock.js';
import { fdCalls } from './calls-fd.js';
import { pathCalls } from './calls-path.js';
import { pollCalls } from './calls-poll.js';
import { processCalls } from './calls-process.js';
import { sockCalls } from './calls-sock.js';
import type { WasiState } from './state.js';

/** Every function name of WASI preview1 (witx `wasi_snapshot_preview1`), including `proc_raise` and `sock_accept`. */
export const PREVIEW1_FUNCTIONS: readonly string[] = Object.freeze([
  'args_get',
  'args_sizes_get',
  'environ_get',
  'environ_sizes_get',
  'clock_res_get',
  'clock_time_get',
  'fd_advise',
  'fd_allocate',
  'fd_close',
  'fd_datasync',
  'fd_fdstat_get',
  'fd_fdstat_set_flags',
  'fd_fdstat_set_rights',
  'fd_filestat_get',
  'fd_filestat_set_size',
  'fd_filestat_set_times',
  'fd_pread',
  'fd_prestat_get',
  'fd_prestat_dir_name',
  'fd_pwrite',
  'fd_read',
  'fd_readdir',
  'fd_renumber',
  'fd_seek',
  'fd_sync',
  'fd_tell',
  'fd_write',
  'path_create_directory',
  'path_filestat_get',
  'path_filestat_set_times',
  'path_link',
  'path_open',
  'path_readlink',
  'path_remove_directory',
  'path_rename',
  'path_symlink',
  'path_unlink_file',
  'poll_oneoff',
  'proc_exit',
  'proc_raise',
  'sched_yield',
  'random_get',
  'sock_accept',
  'sock_recv',
  'sock_send',
  'sock_shutdown',
]);

/** Builds `{ wasi_snapshot_preview1: { ... } }` around `state`. Frozen: the object never changes. */
export function createPreview1Imports(state: WasiState): WebAssembly.Imports {
  const functions: WebAssembly.ModuleImports = {
    ...argsCalls(state),
    ...clockCalls(state),
    ...fdCalls(state),
    ...pathCalls(state),
    ...pollCalls(state),
    ...processCalls(state),
    ...sockCalls(state),
  };
  return Object.freeze({ [WASI_MODULE]: Object.freeze(functions) });
}
