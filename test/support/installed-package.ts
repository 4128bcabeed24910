/**
 * The package as a user installs it, without a registry: `npm pack` of this checkout (dist/ must
 * be built), the tarball unpacked into a fresh project's node_modules, and the package's
 * dependency, its optional peers and Node's types linked from this checkout's node_modules. The
 * package test checks what users import from it; the start-up bench measures what they pay (an
 * installed package skips the checkout's code fingerprint, `pool/cache/fingerprint.ts`).
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

const REPO = resolve(import.meta.dirname, '..', '..');
const LINKED = ['koffi', 'sql.js', '@jitl/quickjs-wasmfile-release-sync', '@types/node'];

/** A project with cowpool installed in it, in a temporary directory of its own. */
export interface InstalledPackage {
  /** The project: its package.json is `{ type: 'module' }`. */
  readonly project: string;
  /** `<project>/node_modules/cowpool`. */
  readonly packageDir: string;
  /** The tarball's files, relative to the package. */
  readonly files: readonly string[];
  /** Removes the temporary directory. */
  remove(): void;
}

/** Packs this checkout and installs it into a new project; see the module comment. */
export function installPackage(): InstalledPackage {
  const dir = mkdtempSync(join(tmpdir(), 'cowpool-consumer-'));
  try {
    const packed = JSON.parse(
      execFileSync('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', dir], {
        cwd: REPO,
        encoding: 'utf8',
        stdio: ['ignore', 'pipe', 'pipe'],
      }),
    ) as { filename: string; files: { path: string }[] }[];
    const project = join(dir, 'project');
    const packageDir = join(project, 'node_modules', 'cowpool');
    mkdirSync(packageDir, { recursive: true });
    execFileSync('tar', ['-xzf', join(dir, packed[0]!.filename), '-C', packageDir, '--strip-components=1']);
    for (const name of LINKED) {
      mkdirSync(join(project, 'node_modules', name, '..'), { recursive: true });
      symlinkSync(join(REPO, 'node_modules', name), join(project, 'node_modules', name));
    }
    writeFileSync(join(project, 'package.json'), JSON.stringify({ name: 'consumer', private: true, type: 'module' }));
    return {
      project,
      packageDir,
      files: packed[0]!.files.map((f) => f.path),
      remove: () => rmSync(dir, { recursive: true, force: true }),
    };
  } catch (err) {
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
}
