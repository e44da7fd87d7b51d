/**
 * Every way the app reaches a package through its dependency tree, for `lavamoat
 * explain`: the package map (package-map.ts) keeps only the best path of each package,
 * the one that makes its canonical name; this walks the same declarations (the same
 * fields, resolved the same way) and keeps all the edges, so that the other paths and
 * the packages that declare it can be listed too.
 */
import path from 'node:path';
import { compareLogicalPaths, comparePreferredName, findDependencyDir, isDependencyName, readManifest } from './package-map.js';

export type DependencyField = 'dependencies' | 'optionalDependencies' | 'peerDependencies' | 'devDependencies';

export interface DependencyEdge {
  /** The name the dependency is declared under (a part of a logical path). */
  name: string;
  /** Its real directory. */
  dir: string;
  field: DependencyField;
}

export interface DependencyGraph {
  root: string;
  edges: Map<string, DependencyEdge[]>;
}

const FIELDS: readonly DependencyField[] = ['dependencies', 'optionalDependencies', 'peerDependencies', 'devDependencies'];

/** The declared dependencies of every package reachable from the root (the root's devDependencies when asked). */
export function buildDependencyGraph(rootDir: string, { includeDev = false } = {}): DependencyGraph {
  const edges = new Map<string, DependencyEdge[]>();
  const queue = [rootDir];
  edges.set(rootDir, []);
  for (let i = 0; i < queue.length; i += 1) {
    const dir = queue[i]!;
    let manifest: Record<string, unknown>;
    try {
      manifest = readManifest(dir) as Record<string, unknown>;
    } catch {
      continue;
    }
    const seen = new Set<string>();
    const list: DependencyEdge[] = [];
    for (const field of FIELDS) {
      if (field === 'devDependencies' && !(includeDev && dir === rootDir)) continue;
      const record = manifest[field];
      if (!record || typeof record !== 'object') continue;
      for (const name of Object.keys(record).sort(comparePreferredName)) {
        if (seen.has(name) || !isDependencyName(name)) continue;
        seen.add(name);
        const depDir = findDependencyDir(name, dir);
        if (depDir === undefined || depDir === rootDir) continue;
        list.push({ name, dir: depDir, field });
        if (!edges.has(depDir)) {
          edges.set(depDir, []);
          queue.push(depDir);
        }
      }
    }
    edges.set(dir, list);
  }
  return { root: rootDir, edges };
}

export interface Dependent {
  /** Directory of the package that declares the dependency (the root for the app). */
  dir: string;
  /** The name it declares it under, and where. */
  name: string;
  field: DependencyField;
}

/** The packages whose package.json declares `targetDir` (as resolved from them). */
export function dependentsOf(graph: DependencyGraph, targetDir: string): Dependent[] {
  const out: Dependent[] = [];
  for (const [dir, list] of graph.edges) {
    for (const edge of list) if (edge.dir === targetDir) out.push({ dir, name: edge.name, field: edge.field });
  }
  return out;
}

export interface PathsResult {
  /** Logical paths (names from the root), best first under the canonical-name order. */
  paths: string[][];
  /** True when the search stopped at its budget: there may be shorter paths it did not see (never the case for the first). */
  truncated: boolean;
}

/**
 * Up to `limit` simple paths from the root to `targetDir`, the shortest first (ties in
 * the canonical-name order, so the first is the canonical name's): a best-first search
 * guided by the exact distance to the target, so it never wanders into parts of the
 * tree that do not lead there, with a budget of `maxSteps` expanded partial paths.
 */
export function pathsTo(graph: DependencyGraph, targetDir: string, { limit = 5, maxSteps = 20_000 } = {}): PathsResult {
  // Distance from each package to the target, over the reversed edges.
  const reverse = new Map<string, string[]>();
  for (const [dir, list] of graph.edges) {
    for (const edge of list) {
      let from = reverse.get(edge.dir);
      if (!from) reverse.set(edge.dir, (from = []));
      from.push(dir);
    }
  }
  const distance = new Map<string, number>([[targetDir, 0]]);
  const queue = [targetDir];
  for (let i = 0; i < queue.length; i += 1) {
    const dir = queue[i]!;
    for (const from of reverse.get(dir) ?? []) {
      if (distance.has(from)) continue;
      distance.set(from, distance.get(dir)! + 1);
      queue.push(from);
    }
  }
  if (!distance.has(graph.root)) return { paths: [], truncated: false };

  interface Partial {
    dir: string;
    names: string[];
    dirs: Set<string>;
    estimate: number;
  }
  const heap = new MinHeap<Partial>((a, b) => a.estimate - b.estimate || compareLogicalPaths(a.names, b.names));
  heap.push({ dir: graph.root, names: [], dirs: new Set([graph.root]), estimate: distance.get(graph.root)! });
  const found: string[][] = [];
  let longestWanted = Infinity;
  let steps = 0;
  let truncated = false;
  while (heap.size > 0) {
    const item = heap.pop()!;
    // Paths of the k-th path's length are all collected, so that ties are ordered as canonical names are.
    if (item.estimate > longestWanted) break;
    if (item.dir === targetDir) {
      found.push(item.names);
      if (found.length === limit) longestWanted = item.names.length;
      continue;
    }
    steps += 1;
    if (steps > maxSteps) {
      truncated = true;
      break;
    }
    for (const edge of graph.edges.get(item.dir) ?? []) {
      const rest = distance.get(edge.dir);
      if (rest === undefined || item.dirs.has(edge.dir)) continue;
      const dirs = new Set(item.dirs);
      dirs.add(edge.dir);
      heap.push({ dir: edge.dir, names: [...item.names, edge.name], dirs, estimate: item.names.length + 1 + rest });
    }
  }
  found.sort(compareLogicalPaths);
  return { paths: found.slice(0, limit), truncated };
}

/** The canonical-name form of a logical path (`a>b>c`). */
export const pathName = (names: readonly string[]): string => names.join('>');

/** A directory shown relative to the root when inside it. */
export function relativeDir(root: string, dir: string): string {
  const rel = path.relative(root, dir);
  return rel === '' ? '.' : rel.startsWith('..') || path.isAbsolute(rel) ? dir : rel.split(path.sep).join('/');
}

/** A binary heap, smallest first under `compare`. */
class MinHeap<T> {
  private readonly items: T[] = [];
  constructor(private readonly compare: (a: T, b: T) => number) {}

  get size(): number {
    return this.items.length;
  }

  push(item: T): void {
    const items = this.items;
    items.push(item);
    let i = items.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (this.compare(items[i]!, items[parent]!) >= 0) break;
      [items[i], items[parent]] = [items[parent]!, items[i]!];
      i = parent;
    }
  }

  pop(): T | undefined {
    const items = this.items;
    if (items.length === 0) return undefined;
    const top = items[0];
    const last = items.pop()!;
    if (items.length > 0) {
      items[0] = last;
      let i = 0;
      for (;;) {
        const left = 2 * i + 1;
        const right = left + 1;
        let smallest = i;
        if (left < items.length && this.compare(items[left]!, items[smallest]!) < 0) smallest = left;
        if (right < items.length && this.compare(items[right]!, items[smallest]!) < 0) smallest = right;
        if (smallest === i) break;
        [items[i], items[smallest]] = [items[smallest]!, items[i]!];
        i = smallest;
      }
    }
    return top;
  }
}
