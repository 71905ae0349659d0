// The simulator's ebpf policy is the shared controller composed with the mode's dropping part (modes.ts): an
// owner whose packets cost more than its quota on others' time is flagged by the controller and dropped only
// where the dropping part is eBPF; charging (its quota lowered) happens either way.
import { describe, expect, it } from 'vitest';
import { EbpfAccounting } from '../../agents/sim/accounting.ts';
import { CfsBandwidth } from '../../agents/sim/cfs-bandwidth.ts';
import { enforcementMode } from '../../agents/enforcement/modes.ts';

const PERIOD_NS = 100e6;
const QUOTA_NS = 50e6;

/** Victim (0) and owner (1) on core 0; in each period the owner's packets cost `ownerNs` on the victim's time. */
function run(dropsOwners: boolean, ownerNs: number, periods = 4): { dropped: boolean; ownerQuotaNs: number } {
  const groups = [0, 1].map(() => new CfsBandwidth(QUOTA_NS, PERIOD_NS, 5e6, 2, PERIOD_NS));
  const policy = new EbpfAccounting(groups, [0, 0], 0, [QUOTA_NS, QUOTA_NS], PERIOD_NS, 1e6, 1, dropsOwners);
  let now = 0;
  for (let p = 0; p < periods; p++) {
    now += PERIOD_NS / 2;
    policy.onSoftirq(0, 0, ownerNs, Float64Array.from([0, 1]), 0, now); // all of it is the owner's
    now = groups[0]!.nextRefillNs + 1;
    for (const g of groups) g.tick(now);
    policy.onTick(now);
  }
  return { dropped: policy.dropAfterDriver(1), ownerQuotaNs: groups[1]!.quotaNs };
}

describe('sim ebpf policy composed from the mode registry', () => {
  it('ebpf composes charging with eBPF dropping', () => {
    const s = enforcementMode('ebpf');
    expect([s.charging, s.dropping, s.kernelSwitch]).toEqual([true, 'ebpf', false]);
  });

  it('an owner over its quota is dropped where dropping is eBPF, and only charged where it is not', () => {
    const withDrops = run(true, 80e6);
    const chargeOnly = run(false, 80e6);
    expect(withDrops.dropped).toBe(true);
    expect(chargeOnly.dropped).toBe(false);
    // charged either way: its quota fell below the base
    expect(withDrops.ownerQuotaNs).toBeLessThan(QUOTA_NS);
    expect(chargeOnly.ownerQuotaNs).toBeLessThan(QUOTA_NS);
  });

  it('an owner within its quota is never dropped', () => {
    expect(run(true, 5e6).dropped).toBe(false);
  });
});
