// Drops for real: the tc filter on A's veth (egress, i.e. before the veth crossing), then the XDP program on B's
// end of the pair (native, in its NAPI), drop UDP to B while B's IP is in the pinned map, and let it through again
// once removed. Cleanup leaves no filter, no XDP program and no pin.
import { existsSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildBpf } from '../../agents/enforcement/build.ts';
import { DropMap } from '../../agents/enforcement/dropping.ts';
import { attachDrop, detachDrop, DROP_MAP, ourFilters, type TcAttached } from '../../agents/enforcement/tc.ts';
import { reapEnforcement } from '../../agents/enforcement/enforcer.ts';
import { attachXdp, detachXdp, hasOurXdp, xdpProgram } from '../../agents/enforcement/xdp.ts';
import { enforcementCapabilities } from '../../agents/enforcement/capabilities.ts';
import { announceSkip, REAL } from './real.ts';
import * as T from './topology.ts';

announceSkip('ebpf drops');

describe.runIf(REAL)('tc cls_bpf drops through the pinned map (real, netns + veth)', () => {
  let att: TcAttached;
  beforeAll(() => {
    enforcementCapabilities(); // mounts bpffs if needed
    T.createTopology();
  });
  afterAll(async () => {
    T.destroyTopology();
    await reapEnforcement();
  });

  it('drops packets to a throttled owner and lets them through again', async () => {
    att = attachDrop({ dev: T.DEV_A, netns: T.nsPath(T.NS_A) }, buildBpf().drop);
    expect(ourFilters(att)).toEqual(['ingress', 'egress']);
    expect(existsSync(DROP_MAP)).toBe(true);
    const drops = new DropMap();
    try {
      const before = await T.udpBurst(100);
      expect(before).toBeGreaterThanOrEqual(95);
      expect(drops.set(T.IP_B, true)).toBe(true);
      expect(drops.set(T.IP_B, true)).toBe(false); // unchanged: no write
      const d0 = drops.dropped(T.IP_B);
      const during = await T.udpBurst(100);
      const dropped = drops.dropped(T.IP_B) - d0;
      drops.set(T.IP_B, false);
      const after = await T.udpBurst(100);
      console.log(`UDP received before/during/after: ${before}/${during}/${after}; dropped ${dropped}`);
      expect(during).toBe(0);
      expect(dropped).toBeGreaterThanOrEqual(100);
      expect(after).toBeGreaterThanOrEqual(95);
    } finally {
      drops.close();
    }
    expect(detachDrop(att)).toContain(`tc filter ${T.DEV_A} egress`);
    expect(ourFilters(att)).toEqual([]);
  });

  it('XDP on the receiving end of the pair drops the same way, and detaches', async () => {
    const rx = { dev: T.DEV_B, netns: T.nsPath(T.NS_B) };
    attachXdp(rx, buildBpf().drop);
    expect(hasOurXdp(rx)).toBe(true);
    expect(xdpProgram(rx)!.native).toBe(true);
    const drops = new DropMap(); // the map XDP uses is tc's, pinned by name
    try {
      const before = await T.udpBurst(100);
      drops.set(T.IP_B, true);
      const d0 = drops.dropped(T.IP_B);
      const during = await T.udpBurst(100);
      const dropped = drops.dropped(T.IP_B) - d0;
      drops.set(T.IP_B, false);
      const after = await T.udpBurst(100);
      console.log(`XDP: UDP received before/during/after: ${before}/${during}/${after}; dropped ${dropped}`);
      expect(before).toBeGreaterThanOrEqual(95);
      expect(during).toBe(0);
      expect(dropped).toBeGreaterThanOrEqual(100);
      expect(after).toBeGreaterThanOrEqual(95);
    } finally {
      drops.close();
    }
    expect(detachXdp(rx)).toEqual([`xdp ${T.DEV_B}`]);
    expect(hasOurXdp(rx)).toBe(false);
    expect(detachXdp(rx)).toEqual([]); // idempotent
  });

  it('the reaper removes the pins', async () => {
    await reapEnforcement();
    expect(existsSync(DROP_MAP)).toBe(false);
  });
});
