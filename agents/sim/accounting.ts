// Who pays for softirq time. Three policies, named as RunSpec.enforcement:
//  none        vanilla Linux: the interrupted task's cgroup pays (its runtime and its vruntime), ksoftirqd
//              (root cgroup) pays nobody's quota;
//  iron-kernel the IRON patch: each softirq's time is split over its packets and charged to the packets'
//              owner at once (runtime may go negative); the interrupted container is credited; packets for a
//              throttled owner are dropped at the NIC before they cost anything;
//  ebpf        the eBPF approximation: the kernel still charges the interrupted task; a controller rewrites
//              cpu.cfs_quota_us once per interval (owner: less, interrupted: more), and each write refills
//              the pool, so the over-grant is carried as debt; drops happen after the driver has paid.
// Every policy records the attribution (who owned the packets), so accounting is visible without enforcing.
import type { Enforcement } from '../../workloads/catalog.ts';
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
  /** Extra per-packet cost of the accounting itself (timestamps, owner lookup). */
  abstract readonly overheadNsPerPacket: number;

  /** `totalNs` of softirq ran on `cpu` in the context of container `ctx` (-1: idle or ksoftirqd). */
  abstract onSoftirq(cpu: number, ctx: number, totalNs: number, ownerNs: Float64Array, now: number): void;
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

  protected attribute(ownerNs: Float64Array): void {
    for (let i = 0; i < ownerNs.length; i++) this.attributedNs[i] += ownerNs[i];
  }
}

export class VanillaAccounting extends AccountingPolicy {
  readonly mode = 'none' as const;
  readonly overheadNsPerPacket = 0;
  onSoftirq(cpu: number, ctx: number, totalNs: number, ownerNs: Float64Array, now: number): void {
    this.attribute(ownerNs);
    if (ctx >= 0) this.groups[ctx].charge(cpu, totalNs, now);
  }
}

export class IronAccounting extends AccountingPolicy {
  readonly mode = 'iron-kernel' as const;
  constructor(groups: CfsBandwidth[], homeCpu: number[], readonly overheadNsPerPacket: number) {
    super(groups, homeCpu);
  }
  onSoftirq(_cpu: number, ctx: number, totalNs: number, ownerNs: Float64Array, now: number): void {
    this.attribute(ownerNs);
    for (let i = 0; i < ownerNs.length; i++) {
      const ns = ownerNs[i];
      if (ns <= 0) continue;
      this.chargedNs[i] += ns;
      this.groups[i].charge(this.homeCpu[i], ns, now);
    }
    if (ctx >= 0) this.creditedNs[ctx] += totalNs;
  }
  override dropAtNic(owner: number): boolean {
    const g = this.groups[owner];
    return g.isThrottled(this.homeCpu[owner]) || g.available(this.homeCpu[owner]) <= 0;
  }
}

export class EbpfAccounting extends AccountingPolicy {
  readonly mode = 'ebpf' as const;
  private readonly owedNs: Float64Array;
  private readonly paidNs: Float64Array;
  /** Signed: > 0 the container owes CPU time, < 0 it is owed a credit. */
  private readonly debtNs: Float64Array;
  private readonly nextRunNs: Float64Array;

  /**
   * The controller follows research/ebpf-iron.md section 5: one tick per interval per container, right after
   * the container's period boundary (it polls cpu.stat for nr_periods), so the refill a write causes hands
   * out little beyond the fresh quota; what it does hand out is added to the debt.
   */
  constructor(
    groups: CfsBandwidth[],
    homeCpu: number[],
    readonly overheadNsPerPacket: number,
    private readonly baseQuotaNs: number[],
    private readonly intervalNs: number,
    private readonly minQuotaNs: number,
    pollDelayNs: number,
  ) {
    super(groups, homeCpu);
    const n = groups.length;
    this.owedNs = new Float64Array(n);
    this.paidNs = new Float64Array(n);
    this.debtNs = new Float64Array(n);
    this.nextRunNs = Float64Array.from(groups, (g) => g.nextRefillNs + pollDelayNs);
  }

  onSoftirq(cpu: number, ctx: number, totalNs: number, ownerNs: Float64Array, now: number): void {
    this.attribute(ownerNs);
    for (let i = 0; i < ownerNs.length; i++) this.owedNs[i] += ownerNs[i];
    if (ctx >= 0) {
      this.paidNs[ctx] += totalNs;
      this.groups[ctx].charge(cpu, totalNs, now); // the kernel is unmodified: vanilla charging happens
    }
  }

  override dropAfterDriver(owner: number): boolean {
    return this.groups[owner].isThrottled(this.homeCpu[owner]);
  }

  override nextEventNs(): number {
    let t = Infinity;
    for (let i = 0; i < this.nextRunNs.length; i++) if (this.nextRunNs[i] < t) t = this.nextRunNs[i];
    return t;
  }

  override onTick(now: number): void {
    for (let i = 0; i < this.groups.length; i++) {
      if (now < this.nextRunNs[i]) continue;
      this.nextRunNs[i] += this.intervalNs;
      const g = this.groups[i];
      const net = this.owedNs[i] - this.paidNs[i]; // owner's network time minus what it paid for others
      this.owedNs[i] = 0;
      this.paidNs[i] = 0;
      if (net > 0) this.chargedNs[i] += net;
      else this.creditedNs[i] -= net;
      this.debtNs[i] += net;
      const periods = this.intervalNs / g.periodNs;
      const base = this.baseQuotaNs[i];
      const want = base - this.debtNs[i] / periods;
      const quota = Math.round(Math.max(this.minQuotaNs, Math.min(2 * base, want)) / 1000) * 1000; // cfs_quota_us is in us
      this.debtNs[i] -= (base - quota) * periods;
      if (quota !== g.quotaNs) this.debtNs[i] += g.rewriteQuota(quota, now); // each write refills: over-grant is debt
    }
  }
}
