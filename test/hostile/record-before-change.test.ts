// Recorded before changed: the IRON switch's state record (with the value found) is written before the switch
// is; if the record cannot be written, the switch is never touched (a crash between the two would otherwise
// leave a changed switch that no reaper knows of). Runs against a fake /proc tree, no root needed.
import { cpSync, mkdtempSync, readFileSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { createEnforcer } from '../../agents/enforcement/enforcer.ts';
import { IRON_SWITCH } from '../../agents/enforcement/iron-kernel.ts';

describe('record before change', () => {
  it('leaves the IRON switch untouched when its record cannot be written', async () => {
    const root = mkdtempSync(join(tmpdir(), 'ironlab-proc-'));
    cpSync('test/fixtures/proc-iron/patched', root, { recursive: true });
    const sw = join(root, IRON_SWITCH);
    const past = new Date('2001-01-01T00:00:00Z');
    utimesSync(sw, past, past);
    const blocker = join(mkdtempSync(join(tmpdir(), 'ironlab-state-')), 'file');
    writeFileSync(blocker, ''); // the state dir would be under a regular file: the record cannot be written
    const e = createEnforcer('iron-kernel', { containers: [], periodUs: 100_000, procRoot: root, stateDir: join(blocker, 'state') });
    await expect(e.start()).rejects.toThrow(/ENOTDIR|not a directory/);
    expect(readFileSync(sw, 'utf8').trim()).toBe('0');
    expect(statSync(sw).mtime.toISOString()).toBe(past.toISOString()); // never written, not even restored
  });
});
