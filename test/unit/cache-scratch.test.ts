// A killed kernel or guest-image build leaves its scratch behind (`<hash>.build.<pid>`): the next build removes
// it, and nothing else — not a finished cache entry, not the scratch of a build still running.
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { sweepDeadScratch } from '../../testbed/cache-scratch.ts';

describe('cache scratch of killed builds', () => {
  it("removes the scratch whose builder is gone and keeps the cache and a live builder's scratch", () => {
    const dead = spawnSync('true').pid!; // exited and reaped: its pid runs nothing of ours
    const dir = mkdtempSync(join(tmpdir(), 'ironlab-cache-'));
    for (const d of ['0123abcd', `0123abcd.build.${dead}`, `0123abcd.build.${process.pid}`, `77ffee00.tree.${dead}`])
      mkdirSync(join(dir, d));
    writeFileSync(join(dir, `rootfs.ext4.${dead}.tmp`), '');
    writeFileSync(join(dir, 'rootfs.ext4'), '');
    expect(sweepDeadScratch(dir).sort()).toEqual([`0123abcd.build.${dead}`, `77ffee00.tree.${dead}`, `rootfs.ext4.${dead}.tmp`]);
    expect(readdirSync(dir).sort()).toEqual(['0123abcd', `0123abcd.build.${process.pid}`, 'rootfs.ext4']);
    expect(sweepDeadScratch(join(dir, 'missing'))).toEqual([]);
  });
});
