// Charging through CFS bandwidth (research/ebpf-iron.md §5): no BPF helper can take runtime from a cgroup, so
// the controller moves each container's cpu.cfs_quota_us instead. An owner whose packets were processed on
// others' time gets a lower quota until it has paid its net charge; a container interrupted for others' packets
// gets a higher one until it has been paid back. Every write refills the group's runtime (even the same value),
// so: write only when the value changes, at most once per tick (tick >= period), and count the refill a write
// hands a throttled group as more debt. Debt carries over ticks, capped so a brief burst cannot starve it forever.
import { readFileSync, writeFileSync } from 'node:fs';

export interface QuotaIo {
  read(file: string): string;
  write(file: string, value: string): void;
}
export const fsQuotaIo: QuotaIo = {
  read: (f) => readFileSync(f, 'utf8'),
  write: (f, v) => writeFileSync(f, v),
};

export interface ChargedGroup {
  name: string;
  cgroupCpuPath: string;
}
export interface TickInput {
  chargeNs: number; // owned softirq time run on others' time since the last tick
  creditNs: number; // time this group was interrupted for others' packets since the last tick
  throttledDelta: number; // growth of cpu.stat nr_throttled since the last tick
}
export interface ChargingOptions {
  io?: QuotaIo;
  /** Lowest quota as a fraction of the original (never starve a container completely). */
  minFraction?: number;
  /** Highest quota as a multiple of the original. */
  maxFactor?: number;
  /** Debt cap, in periods' worth of the original quota. */
  capPeriods?: number;
  /** Quotas are rounded to this step (us) so that small jitter does not cause writes. */
  stepUs?: number;
}

interface GroupState {
  name: string;
  file: string;
  baseUs: number; // original quota; <= 0 (unlimited) means the group is not charged
  periodUs: number;
  currentUs: number;
  debtUs: number; // > 0: owes CPU; < 0: is owed CPU
  writes: number;
  chargedUs: number; // charge applied in total (for samples)
  creditedUs: number;
}

export class ChargingController {
  private groups = new Map<string, GroupState>();
  private io: QuotaIo;
  private o: Required<Omit<ChargingOptions, 'io'>>;

  constructor(groups: readonly ChargedGroup[], opts: ChargingOptions = {}) {
    this.io = opts.io ?? fsQuotaIo;
    this.o = { minFraction: opts.minFraction ?? 0.1, maxFactor: opts.maxFactor ?? 2, capPeriods: opts.capPeriods ?? 50, stepUs: opts.stepUs ?? 1000 };
    for (const g of groups) {
      const file = `${g.cgroupCpuPath}/cpu.cfs_quota_us`;
      const baseUs = Number(this.io.read(file).trim());
      const periodUs = Number(this.io.read(`${g.cgroupCpuPath}/cpu.cfs_period_us`).trim());
      this.groups.set(g.name, { name: g.name, file, baseUs, periodUs, currentUs: baseUs, debtUs: 0, writes: 0, chargedUs: 0, creditedUs: 0 });
    }
  }

  /** Original quotas, for the state file (so a reaper can restore them after a crash). */
  originals(): { file: string; quotaUs: number }[] {
    return [...this.groups.values()].map((g) => ({ file: g.file, quotaUs: g.baseUs }));
  }

  /** One controller step after `elapsedUs` of wall time. Returns the groups whose quota was written. */
  tick(elapsedUs: number, inputs: ReadonlyMap<string, TickInput>): string[] {
    const written: string[] = [];
    for (const g of this.groups.values()) {
      const inp = inputs.get(g.name);
      if (g.baseUs <= 0 || !inp) continue;
      const periods = Math.max(1, elapsedUs / g.periodUs);
      // What the last tick's quota already paid back (or paid out, for a raised quota).
      g.debtUs -= (g.baseUs - g.currentUs) * periods;
      const chargeUs = inp.chargeNs / 1000;
      const creditUs = inp.creditNs / 1000;
      g.debtUs += chargeUs - creditUs;
      g.chargedUs += chargeUs;
      g.creditedUs += creditUs;
      const cap = this.o.capPeriods * g.baseUs;
      g.debtUs = Math.max(-cap, Math.min(cap, g.debtUs));
      // Spread the debt over the next tick's periods, assuming it lasts as long as this one.
      const lo = g.baseUs * this.o.minFraction;
      const hi = g.baseUs * this.o.maxFactor;
      const raw = Math.max(lo, Math.min(hi, g.baseUs - g.debtUs / periods));
      const next = Math.max(1000, Math.round(raw / this.o.stepUs) * this.o.stepUs);
      if (next === g.currentUs) continue;
      this.io.write(g.file, String(next));
      g.writes++;
      // The write refilled the runtime: a group that was running into its quota gets up to one extra quota.
      // That counts as more debt for an owner that owes CPU. A group that is owed CPU (the interrupted victim)
      // is not billed for it: billing it made every raise cost it a whole quota, so crediting lowered its
      // quota below the original (41 ms of 50 ms in local-ebpf, see README.md); the refill is part payment.
      if (inp.throttledDelta > 0 && g.debtUs > 0) g.debtUs += next;
      g.currentUs = next;
      written.push(g.name);
    }
    return written;
  }

  state(name: string): Readonly<GroupState> | undefined {
    return this.groups.get(name);
  }

  /** Put every original quota back (only where we changed it). Idempotent. */
  restore(): void {
    for (const g of this.groups.values()) {
      if (g.currentUs !== g.baseUs) {
        try {
          this.io.write(g.file, String(g.baseUs));
        } catch {
          /* the cgroup is gone with its container */
        }
        g.currentUs = g.baseUs;
      }
    }
  }
}
