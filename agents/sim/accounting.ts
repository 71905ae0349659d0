// Who pays for softirq time. One policy per mode of the enforcement registry (enforcement/modes.ts):
//  none        vanilla Linux: the interrupted task's cgroup pays (its runtime and its vruntime), ksoftirqd
//              (root cgroup) pays nobody's quota;
//  iron-kernel the IRON patch: each softirq's time is split over its packets and charged to the packets'
//              owner at once (runtime may go negative); the interrupted container is credited; packets for a
//              throttled owner are dropped at the NIC before they cost anything;
//  ebpf        the eBPF approximation: the kernel still charges the interrupted task; the agent's controller
//              (agents/enforcement/controller.ts) rewrites cpu.cfs_quota_us once per period (owner: less,
//              interrupted: more; each write refills the pool) and flags an owner's packets for drops while
//              it has consumed more than its quota; drops happen after the driver has paid.
// Every policy records the attribution (who owned the packets), so accounting is visible without enforcing.
import { enforcementMode, type Enforcement } from '../enforcement/modes.ts';
import { GroupController } from '../enforcement/controller.ts';
import type { CfsBandwidth } from './cfs-bandwidth.ts';

export interface AccountingTotals {
  attributedNs: Float64Array;
  chargedNs: Float64Array;
  creditedNs: Float64Array;
}

export abstract class AccountingPolicy {
  readonly attributedNs: Float64Array;
  readonly chargedNs: Float64Array;
  readonly creditedNs: Float64Array;

  constructor(
    protected readonly groups: CfsBandwidth[],
    protected readonly homeCpu: number[],
  ) {
    const n = groups.length;
    this.attributedNs = new Float64Array(n);
    this.chargedNs = new Float64Array(n);
    this.creditedNs = new Float64Array(n);
  }

  abstract readonly mode: Enforcement;
  /** onSoftirq acts on time that ran in no container's context (idle, ksoftirqd): the engine skips the call if not. */
  abstract readonly chargesNoContext: boolean;
  /** The kernel's IRON switch is on (modes.ts): softirq time is charged to its owner, not to the interrupted task. */
  get kernelSwitch(): boolean {
    return enforcementMode(this.mode).kernelSwitch;
  }
  /** Extra per-packet cost of the accounting itself (timestamps, owner lookup). */
  abstract readonly overheadNsPerPacket: number;

  /**
   * `totalNs` of softirq ran on `cpu` in the context of container `ctx` (-1: idle or ksoftirqd); owner i's part is
   * totalNs x ownerFrac[base + i] (the engine's per-core owner fractions, read in place).
   */
  abstract onSoftirq(cpu: number, ctx: number, totalNs: number, ownerFrac: Float64Array, base: number, now: number): void;
  /** Drop this owner's incoming packets at the NIC, before any CPU is spent (IRON). */
  dropAtNic(_owner: number): boolean {
    return false;
  }
  /** Drop this owner's incoming packets after the driver and early stack (eBPF at tc ingress). */
  dropAfterDriver(_owner: number): boolean {
    return false;
  }
  /** Called at every event; acts when its own timer (nextEventNs) is due. */
  onTick(_now: number): void {}
  /** The next instant the policy wants to act (the eBPF controller), or Infinity. */
  nextEventNs(): number {
    return Infinity;
  }

  /**
   * `totalNs` of softirq ran on a core whose work owner i has the part ownerFrac[base + i] of: the engine calls
   * this once per core and step with the core's whole softirq time (the contexts' onSoftirq calls split the same
   * time among the contexts it ran on).
   */
  attribute(totalNs: number, ownerFrac: Float64Array, base: number): void {
    for (let i = 0; i < this.attributedNs.length; i++) this.attributedNs[i] += totalNs * ownerFrac[base + i];
  }
}

export class VanillaAccounting extends AccountingPolicy {
  readonly mode = 'none' as const;
  readonly chargesNoContext = false;
  readonly overheadNsPerPacket = 0;
  onSoftirq(cpu: number, ctx: number, totalNs: number, ownerFrac: Float64Array, base: number, now: number): void {
    if (ctx >= 0) this.groups[ctx].charge(cpu, totalNs, now);
  }
}

export class IronAccounting extends AccountingPolicy {
  readonly mode = 'iron-kernel' as const;
  readonly chargesNoContext = true;
  constructor(
    groups: CfsBandwidth[],
    homeCpu: number[],
    readonly overheadNsPerPacket: number,
  ) {
    super(groups, homeCpu);
  }
  onSoftirq(_cpu: number, ctx: number, totalNs: number, ownerFrac: Float64Array, base: number, now: number): void {
    for (let i = 0; i < this.attributedNs.length; i++) {
      const ns = totalNs * ownerFrac[base + i];
      if (ns <= 0) continue;
      this.chargedNs[i] += ns;
      this.groups[i].charge(this.homeCpu[i], ns, now);
    }
    if (ctx >= 0) this.creditedNs[ctx] += totalNs;
  }
  override dropAtNic(owner: number): boolean {
    const g = this.groups[owner];
    return g.available(this.homeCpu[owner]) <= 0; // throttled, or its runtime spent
  }
}

export class EbpfAccounting extends AccountingPolicy {
  readonly mode = 'ebpf' as const;
  readonly chargesNoContext = true;
  /** The shipped controller (agents/enforcement/controller.ts), one per group: same tick, floor, drop rule. */
  private readonly ctl: GroupController[];
  /** Since the last step: its packets' time run on others' contexts (charge), others' time run on it (credit). */
  private readonly chargeNs: Float64Array;
  private readonly creditNs: Float64Array;
  private readonly usageAtStepNs: Float64Array;
  private readonly lastStepNs: Float64Array;
  private readonly nextRunNs: Float64Array;
  private readonly dropping: Uint8Array;

  /**
   * As the agent's enforcer runs it: one controller step per CFS period per container, noticed `pollDelayNs`
   * after the period boundary (the agent's timer is not aligned with the kernel's period timer); a quota write
   * refills the pool (cfs-bandwidth.ts), and what that hands out shows up in the group's usage, so the
   * controller's ledger (used - credit + charge) counts it. `intervalNs` (the profile's controller interval) is
   * not used: the shipped controller steps once per period. `minQuotaNs` is the kernel's smallest quota; the
   * controller's own floor (a fraction of the base) is above it.
   */
  constructor(
    groups: CfsBandwidth[],
    homeCpu: number[],
    readonly overheadNsPerPacket: number,
    baseQuotaNs: number[],
    _intervalNs: number,
    minQuotaNs: number,
    pollDelayNs: number,
    /** The mode's dropping part is eBPF (modes.ts): owners the controller flags are dropped; else only charged. */
    private readonly dropsOwners = true,
  ) {
    super(groups, homeCpu);
    const n = groups.length;
    this.ctl = groups.map(
      (g, i) => new GroupController({ baseUs: baseQuotaNs[i] / 1000, periodUs: g.periodNs / 1000, kernelMinUs: minQuotaNs / 1000 }),
    );
    this.chargeNs = new Float64Array(n);
    this.creditNs = new Float64Array(n);
    this.usageAtStepNs = new Float64Array(n);
    this.lastStepNs = new Float64Array(n);
    this.nextRunNs = Float64Array.from(groups, (g) => g.nextRefillNs + pollDelayNs);
    this.dropping = new Uint8Array(n);
  }

  onSoftirq(cpu: number, ctx: number, totalNs: number, ownerFrac: Float64Array, base: number, now: number): void {
    // The accounting programs' view (summarize() in agents/enforcement/accounting.ts): an owner is charged for
    // its packets' time that ran outside its own cgroup; the interrupted container is credited the time of
    // packets that are not its own.
    let own = 0;
    for (let i = 0; i < this.attributedNs.length; i++) {
      const ns = totalNs * ownerFrac[base + i];
      if (i === ctx) own = ns;
      else this.chargeNs[i] += ns;
    }
    if (ctx >= 0) {
      this.creditNs[ctx] += totalNs - own;
      this.groups[ctx].charge(cpu, totalNs, now); // the kernel is unmodified: vanilla charging happens
    }
  }

  /** XDP drops before RPS; on a NIC host they run in the driver's NAPI on the IRQ core, after the driver. */
  override dropAfterDriver(owner: number): boolean {
    return this.dropping[owner] === 1;
  }

  override nextEventNs(): number {
    let t = Infinity;
    for (let i = 0; i < this.nextRunNs.length; i++) if (this.nextRunNs[i] < t) t = this.nextRunNs[i];
    return t;
  }

  override onTick(now: number): void {
    for (let i = 0; i < this.groups.length; i++) {
      if (now < this.nextRunNs[i]) continue;
      const g = this.groups[i];
      this.nextRunNs[i] += g.periodNs;
      const d = this.ctl[i].step({
        elapsedUs: (now - this.lastStepNs[i]) / 1000,
        usedUs: (g.usageNs - this.usageAtStepNs[i]) / 1000,
        chargeUs: this.chargeNs[i] / 1000,
        creditUs: this.creditNs[i] / 1000,
      });
      this.chargedNs[i] += d.chargedUs * 1000;
      this.creditedNs[i] += d.creditedUs * 1000;
      this.chargeNs[i] = 0;
      this.creditNs[i] = 0;
      this.lastStepNs[i] = now;
      this.usageAtStepNs[i] = g.usageNs;
      this.dropping[i] = d.drop && this.dropsOwners ? 1 : 0;
      if (d.write) g.rewriteQuota(d.quotaUs * 1000, now);
    }
  }
}
