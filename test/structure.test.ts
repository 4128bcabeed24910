/**
 * The source tree's structure, checked: no import cycle between files (type-only imports count,
 * since a type in the wrong file is the same smell), no cycle between folders (layers), and every
 * file opens with a `/** … *\/` header that says what it owns. These are what let a newcomer read
 * one file for one concept; a regression here fails the suite like any other.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { test } from 'node:test';
import ts from 'typescript';

const SRC = resolve(import.meta.dirname, '..', 'src');

function sourceFiles(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) out.push(...sourceFiles(path));
    else if (path.endsWith('.ts') && !path.endsWith('.d.ts')) out.push(path);
  }
  return out.sort();
}

/** Each file's relative imports (static, type-only and dynamic), as files. */
function importGraph(files: string[]): Map<string, string[]> {
  const graph = new Map<string, string[]>();
  for (const file of files) {
    const info = ts.preProcessFile(readFileSync(file, 'utf8'), true, true);
    const targets = info.importedFiles
      .map((f) => f.fileName)
      .filter((name) => name.startsWith('.'))
      .map((name) => resolve(dirname(file), name).replace(/\.js$/, '.ts'));
    graph.set(file, targets);
  }
  return graph;
}

/** Every cycle of `graph`, each as the path that closes it. */
function cycles<T>(graph: Map<T, Iterable<T>>, name: (node: T) => string): string[] {
  const found: string[] = [];
  const state = new Map<T, 'open' | 'done'>();
  const stack: T[] = [];
  const visit = (node: T): void => {
    state.set(node, 'open');
    stack.push(node);
    for (const next of graph.get(node) ?? []) {
      if (!graph.has(next)) continue;
      if (state.get(next) === 'open') found.push([...stack.slice(stack.indexOf(next)), next].map(name).join(' → '));
      else if (state.get(next) === undefined) visit(next);
    }
    stack.pop();
    state.set(node, 'done');
  };
  for (const node of graph.keys()) if (state.get(node) === undefined) visit(node);
  return found;
}

const files = sourceFiles(SRC);
const graph = importGraph(files);
const rel = (file: string) => relative(SRC, file);

test('no import cycle between files of src/ (type-only imports included)', () => {
  assert.deepEqual(cycles(graph, rel), []);
});

test('no cycle between the folders (layers) of src/', () => {
  // A file at the top of src/ (errors.ts, index.ts) is its own layer: errors.ts is imported by all,
  // index.ts is the package's entry and imports layers.
  const layer = (file: string) => (dirname(file) === SRC ? rel(file) : rel(dirname(file)).split('/')[0]!);
  const layers = new Map<string, Set<string>>();
  for (const [file, targets] of graph) {
    const from = layer(file);
    if (!layers.has(from)) layers.set(from, new Set());
    for (const target of targets) if (layer(target) !== from) layers.get(from)!.add(layer(target));
  }
  assert.deepEqual(
    cycles(layers, (l) => l),
    [],
  );
});

test('every file in src/ opens with a /** … */ header comment', () => {
  const without = files.filter((file) => !readFileSync(file, 'utf8').startsWith('/**')).map(rel);
  assert.deepEqual(without, []);
});
