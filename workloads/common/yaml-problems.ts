// Problems in a campaign file, as a researcher reads them: "file:line:col: path: what is wrong, got X".
// Maps zod issues to YAML node positions (yaml's LineCounter) and suggests the key or value probably meant.
import { LineCounter, isMap, isNode, isPair, isScalar, type Document } from 'yaml';
import type { z } from 'zod';
import { UserInputError } from './errors.ts';

export type Path = (string | number)[];
export interface Problem {
  /** `file:line:col` (or just the file). */
  where: string;
  message: string;
}
export interface Location {
  where: string;
  /** The path ran into a scalar: the user wrote `flows: 4` where a list may stand. */
  scalarAt: Path | null;
}

export function refusal(unsorted: Problem[]): UserInputError {
  const [first, ...rest] = [...unsorted].sort((a, b) => compareWhere(a.where, b.where));
  if (!first) return new UserInputError('invalid campaign');
  const shown = rest
    .slice(0, 9)
    .map((p) => `\n  ${p.where}: ${p.message}`)
    .join('');
  const more = rest.length > 9 ? `\n  ... and ${rest.length - 9} more` : '';
  const err = new UserInputError(`${first.message}${shown}${more}`, first.where);
  return err;
}

/** Orders `file:line:col` positions as they appear in the file (a bare file name first). */
function compareWhere(a: string, b: string): number {
  const pos = (w: string) => (/:(\d+):(\d+)$/.exec(w) ?? [0, 0, 0]).slice(1).map(Number);
  const [la, ca] = pos(a);
  const [lb, cb] = pos(b);
  return la - lb || ca - cb;
}

export function formatPath(path: Path): string {
  let out = '';
  for (const seg of path) out += typeof seg === 'number' ? `[${seg}]` : out ? `.${seg}` : seg;
  return out || '(top level)';
}

function formatValue(v: unknown): string {
  if (typeof v === 'string') return JSON.stringify(v);
  if (v === null) return 'null';
  if (Array.isArray(v)) return v.length ? 'a list' : 'an empty list';
  if (typeof v === 'object') return 'a mapping';
  return String(v);
}

/** One zod issue -> problems with positions; `root` is the schema that was parsed (for known keys). */
export function describeIssue(issue: z.core.$ZodIssue, locate: (path: Path, key?: string) => Location, root: z.ZodType): Problem[] {
  const path = issue.path.filter((p): p is string | number => typeof p !== 'symbol');
  if (issue.code === 'unrecognized_keys') {
    const known = knownKeysAt(root, path);
    return issue.keys.map((key) => {
      const hint = suggest(key, known);
      const tail = hint ? ` (did you mean '${hint}'?)` : known.length ? ` (expected one of: ${known.join(', ')})` : '';
      return { where: locate(path, key).where, message: `${path.length ? formatPath(path) + ': ' : ''}unknown key '${key}'${tail}` };
    });
  }
  const input = (issue as { input?: unknown }).input;
  let message = issue.message;
  if (input === undefined && issue.code === 'invalid_type') message = `is required (${message})`;
  else if (input !== undefined && issue.code !== 'custom') message = `${message}, got ${formatValue(input)}`;
  if (issue.code === 'invalid_value' && typeof input === 'string') {
    const hint = suggest(input, issue.values.map(String));
    if (hint) message += ` (did you mean '${hint}'?)`;
  }
  const { where, scalarAt } = locate(path);
  // A scalar written where a list may stand is checked as `[scalar]`: show the path the user wrote.
  const shown = scalarAt && scalarAt.length === path.length - 1 ? scalarAt : path;
  return [{ where, message: `${formatPath(shown)}: ${message}` }];
}

/** Finds the YAML node at a path (or its nearest ancestor) and says where it starts. */
export function locator(doc: Document, lc: LineCounter, file: string) {
  return (path: Path, key?: string): Location => {
    for (let n = path.length; n >= 0; n--) {
      const node = doc.getIn(path.slice(0, n), true);
      if (!isNode(node)) continue;
      const scalarAt = n < path.length && isScalar(node) ? path.slice(0, n) : null;
      let offset = node.range?.[0];
      if (key !== undefined && n === path.length && isMap(node)) {
        const pair = node.items.find((p) => isPair(p) && isScalar(p.key) && p.key.value === key);
        if (pair && isScalar(pair.key)) offset = pair.key.range?.[0] ?? offset;
      }
      if (offset === undefined) continue;
      const { line, col } = lc.linePos(offset);
      return { where: `${file}:${line}:${col}`, scalarAt };
    }
    return { where: file, scalarAt: null };
  };
}

/** The keys the schema allows at `path` (for "did you mean"). */
function knownKeysAt(root: z.ZodType, path: Path): string[] {
  let schema: unknown = root;
  for (const seg of path) {
    schema = unwrap(schema);
    const def = (schema as { _zod: { def: { type: string; element?: unknown; shape?: Record<string, unknown> } } })._zod.def;
    if (def.type === 'array' && typeof seg === 'number') schema = def.element;
    else if (def.type === 'object' && typeof seg === 'string') schema = def.shape?.[seg];
    else return [];
    if (!schema) return [];
  }
  const def = (unwrap(schema) as { _zod: { def: { type: string; shape?: Record<string, unknown> } } })._zod.def;
  return def.type === 'object' && def.shape ? Object.keys(def.shape) : [];
}
function unwrap(schema: unknown): unknown {
  for (;;) {
    const def = (schema as { _zod: { def: { type: string; innerType?: unknown; out?: unknown; in?: unknown } } })._zod.def;
    if ((def.type === 'optional' || def.type === 'default' || def.type === 'nullable') && def.innerType) schema = def.innerType;
    else if (def.type === 'pipe')
      schema = def.in && (def.in as { _zod: { def: { type: string } } })._zod.def.type !== 'transform' ? def.in : def.out;
    else return schema;
  }
}

export function suggest(key: string, known: string[]): string | undefined {
  let best: string | undefined;
  let bestScore = Infinity;
  for (const k of known) {
    const lower = key.toLowerCase();
    const kl = k.toLowerCase();
    const score = lower === kl ? 0 : kl.startsWith(lower) || lower.startsWith(kl) ? 1 : editDistance(lower, kl);
    if (score < bestScore) [best, bestScore] = [k, score];
  }
  return bestScore <= Math.max(1, Math.floor(key.length / 3)) ? best : undefined;
}
function editDistance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let prev = row[0];
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const cur = row[j];
      row[j] = Math.min(row[j] + 1, row[j - 1] + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1));
      prev = cur;
    }
  }
  return row[b.length];
}
