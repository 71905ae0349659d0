// The reaper after a crash under ebpf enforcement: an agent killed with -9 while charging and dropping leaves a
// state file, lowered quotas, the XDP drop program on the peer's host veth and pinned maps; the next agent's
// reap() puts the quotas back before it removes the containers, and leaves no XDP program, filter, pin or state file.
import { spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { DockerBackend } from '../../agents/backends/docker-backend.ts';
import { enforcementCapabilities } from '../../agents/enforcement/capabilities.ts';
import { DEFAULT_STATE_DIR, readStates } from '../../agents/enforcement/state.ts';
import { ourFilters, TC_GLOBALS } from '../../agents/enforcement/tc.ts';
import { hasOurXdp } from '../../agents/enforcement/xdp.ts';
import { dockerReadiness } from './helpers/ready.ts';

const { ready } = await dockerReadiness();
const ebpf = enforcementCapabilities().find((c) => c.mode === 'ebpf')!;
const hostId = 'reaper-test-ebpf';

const pins = () => (existsSync(TC_GLOBALS) ? readdirSync(TC_GLOBALS).filter((f) => f.startsWith('ironlab')) : []);
const quota = (file: string) => Number(readFileSync(file, 'utf8').trim());

describe.skipIf(!ready || !ebpf.available)('reaper after a crash under ebpf enforcement (real engine)', () => {
  it('restores the quotas, removes filters, pins and the state file', async () => {
    await new DockerBackend({ hostId }).reap();
    const before = new Set(readStates(DEFAULT_STATE_DIR).map((s) => s.id));
    const child = spawn(process.execPath, ['--import', 'tsx', 'test/docker/helpers/hold-run.ts', hostId, 'tcp-receiver', 'ebpf'], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    await new Promise<void>((resolve, reject) => {
      child.stdout!.on('data', (d) => String(d).includes('ready') && resolve());
      child.on('exit', (code) => reject(new Error(`helper exited ${code}`)));
    });
    // Let the controller tick under the flood until it has lowered the neighbour's quota (or give up after 8 s).
    const state = () => readStates(DEFAULT_STATE_DIR).find((s) => s.pid === child.pid && !before.has(s.id));
    const lowered = () => state()?.quotas.some((q) => existsSync(q.file) && quota(q.file) !== q.quotaUs);
    for (let i = 0; i < 80 && !lowered(); i++) await new Promise((r) => setTimeout(r, 100));
    child.kill('SIGKILL');
    await new Promise((r) => child.once('exit', r));

    const left = state()!;
    expect(left).toBeDefined();
    // The drop program on the peer's veth: XDP (the state file has it; tc ingress where XDP could not attach).
    const devs = [...(left.xdp ?? []), ...left.tc];
    expect(devs.length).toBeGreaterThanOrEqual(1);
    for (const t of left.xdp ?? []) expect(hasOurXdp(t)).toBe(true);
    for (const t of left.tc) expect(ourFilters(t)).toEqual(['ingress']);
    expect(pins().length).toBeGreaterThan(0);
    const changed = left.quotas.filter((q) => quota(q.file) !== q.quotaUs);
    expect(changed.length).toBeGreaterThan(0); // charging wrote a quota before the crash

    const done = await new DockerBackend({ hostId }).reap();
    for (const q of changed) expect(done).toContain(`quota ${q.file} = ${q.quotaUs}`);
    expect(done.some((d) => d.startsWith('network ironlab-'))).toBe(true);
    for (const t of left.tc) expect(ourFilters(t)).toEqual([]);
    for (const t of left.xdp ?? []) expect(hasOurXdp(t)).toBe(false);
    expect(pins()).toEqual([]);
    expect(existsSync(join(DEFAULT_STATE_DIR, `ironlab-${left.id}.json`))).toBe(false);
  }, 60_000);
});
