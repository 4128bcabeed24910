/**
 * `--dir HOST::GUEST[:rw|:ro]`: a host directory granted to the guest. Without a suffix it is an
 * overlay (writable by each request, changes vanish after it); `:rw` makes changes persistent on
 * the host, `:ro` refuses them with EROFS.
 */
import { InvalidArgumentError } from '../errors.js';
import type { PreopenMode, PreopenOption } from '../wasi/index.js';

const SUFFIXES: Readonly<Record<string, PreopenMode>> = { ':rw': 'persistent', ':ro': 'readonly' };

/** Parses one `--dir` value. */
export function parseDirOption(spec: string): PreopenOption {
  const [hostPath, guest, extra] = spec.split('::');
  let guestPath = guest ?? '';
  let mode: PreopenMode = 'overlay';
  for (const [suffix, suffixMode] of Object.entries(SUFFIXES)) {
    if (guestPath.endsWith(suffix)) {
      guestPath = guestPath.slice(0, -suffix.length);
      mode = suffixMode;
    }
  }
  if (!hostPath || !guestPath || extra !== undefined) {
    throw new InvalidArgumentError(
      `--dir ${spec}: write it as HOST::GUEST, e.g. ./public::/www (add :rw to keep changes, :ro to refuse them)`,
    );
  }
  return { hostPath, guestPath, mode };
}
