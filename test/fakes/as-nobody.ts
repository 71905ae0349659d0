// Run a command of this checkout as nobody (uid 65534), as a user other than root would. Nobody cannot reach a
// checkout cloned inside a 0700 directory (a `mktemp -d` folder, /root), so the child sees the checkout
// bind-mounted at a searchable path, in a mount namespace of its own that goes with it (nothing stays mounted),
// and runs from there (its cwd too: a cwd nobody cannot enter fails every child it spawns, esbuild's among them).
// Needs root (unshare, mount, setpriv), as the tests that use it do.
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdtempSync, rmdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

/** The checkout's root (this file is test/fakes/as-nobody.ts). */
export const CHECKOUT = resolve(import.meta.dirname, '..', '..');

/** `argv(view)` builds the command with the checkout's paths under `view`; returns the finished child. */
export function runAsNobody(
  argv: (view: string) => string[],
  env: NodeJS.ProcessEnv = process.env,
): { status: number | null; stdout: string; stderr: string } {
  const view = mkdtempSync(join(tmpdir(), 'ironlab-view-'));
  chmodSync(view, 0o755);
  try {
    const script = 'mount --bind "$1" "$2" && cd "$2" && shift 2 && exec setpriv --reuid=65534 --regid=65534 --clear-groups "$@"';
    const r = spawnSync('unshare', ['--mount', '--propagation', 'private', '--', 'sh', '-c', script, 'sh', CHECKOUT, view, ...argv(view)], {
      env,
      encoding: 'utf8',
    });
    return { status: r.status, stdout: r.stdout, stderr: r.stderr };
  } finally {
    rmdirSync(view); // an empty mount point here: the mount lived in the child's namespace
  }
}
