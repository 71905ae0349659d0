// A throwaway directory holding the given files (path relative to it -> text): a fake /proc or cgroupfs for tests.
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export function fileTree(files: Record<string, string>, prefix = 'ironlab-tree-'): string {
  const root = mkdtempSync(join(tmpdir(), prefix));
  for (const [f, text] of Object.entries(files)) {
    mkdirSync(join(root, f, '..'), { recursive: true });
    writeFileSync(join(root, f), text);
  }
  return root;
}
