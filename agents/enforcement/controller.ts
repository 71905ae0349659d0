// The eBPF enforcement controller: what IRON does in the kernel (charge an owner for its packets' softirq
// time, credit the task that was interrupted for them, drop an owner's packets while its runtime is spent),
// done once per CFS period with the only levers user space has — cpu.cfs_quota_us and a drop flag.
// One module for both users: the agent's enforcer (enforcer.ts, real counters) and the simulator's `ebpf`
// policy (agents/sim/accounting.ts), so both have the same tick (one period), floor and drop rule.
// Pure: numbers in, decisions out. The caller reads the counters, writes the quota when `write` says so and
// sets the drop flag.
//
// The ledger, per period (IRON's runtime accounting expressed in what we can measure):
//   consumed = used - credit + charge
//     used   = CPU time the kernel charged to the group's tasks (cpuacct): its own work, plus softirq that
//              ran on its tasks for others' packets (no IRQ_TIME_ACCOUNTING), plus any refill a write gave;
//     credit = that softirq time for others' packets (given back: the group did not cause it);
//     charge = softirq time of its own packets that ran on others' time or in ksoftirqd.
//   debt = max(floor, debt + consumed - quota of the period's entitlement). floor = 0, except for a group that
//   ran all the quota it was given: -credit (what it paid for others this period and the quota did not yet
//   give back is owed, carried to the next quota). CFS banks no unused quota, and a victim is credited what it
//   paid, never more (an over-grant from a raised quota or a refill shows up in `used` and so becomes debt).
// Decisions for the next period:
//   quota = clamp(base + credit - charge - debt, floor, maxFactor x base): the victim gets back what it paid
//           for others, the owner pays for its packets from its own threads' runtime first;
//   drop  = debt > 0: the owner consumed more than its quota (even when its own threads used little, e.g. a
//           TCP receiver whose packets cost more than its quota) — IRON's "throttled, so drop at the NIC".
//           While dropped its packets cost (almost) nothing, so the debt is paid and the flag clears.

export interface ControllerConfig {
  /** The group's own quota per period (us); <= 0 means unconstrained: never charged, never dropped. */
  baseUs: number;
  periodUs: number;
  /** Lowest quota as a fraction of the base (never starve the owner's own threads completely). */
  minFraction?: number;
  /** Highest quota as a multiple of the base. */
  maxFactor?: number;
  /** Quotas are rounded to this step (us): jitter below it causes no write (each write refills the runtime). */
  stepUs?: number;
  /** Smallest quota the kernel accepts (cfs_quota_us >= 1 ms). */
  kernelMinUs?: number;
}

export interface PeriodInput {
  /** Wall time since the last step (about one period). */
  elapsedUs: number;
  /** CPU time the kernel charged to the group since the last step (cpuacct usage delta). */
  usedUs: number;
  /** Its packets' softirq time that ran outside its cgroup since the last step. */
  chargeUs: number;
  /** Softirq time for others' packets that ran on its tasks since the last step. */
  creditUs: number;
}

export interface PeriodDecision {
  /** Quota for the next period (us). */
  quotaUs: number;
  /** The quota changed: write it (and only then). */
  write: boolean;
  /** Drop the group's incoming packets until the next step. */
  drop: boolean;
  /** This step's figures, for the per-period samples. */
  chargedUs: number;
  creditedUs: number;
  consumedUs: number;
  debtUs: number;
}

export const CONTROLLER_DEFAULTS = { minFraction: 0.1, maxFactor: 2, stepUs: 1000, kernelMinUs: 1000 } as const;

/** One group's controller. */
export class GroupController {
  readonly baseUs: number;
  readonly periodUs: number;
  private readonly c: Required<Omit<ControllerConfig, 'baseUs' | 'periodUs'>>;
  quotaUs: number;
  debtUs = 0;
  dropping = false;
  // Totals, for the provenance.
  writes = 0;
  chargedUs = 0;
  creditedUs = 0;
  minQuotaUs: number;
  maxQuotaUs: number;
  periodsDropping = 0;

  constructor(cfg: ControllerConfig) {
    this.baseUs = cfg.baseUs;
    this.periodUs = cfg.periodUs;
    this.c = { ...CONTROLLER_DEFAULTS, ...Object.fromEntries(Object.entries(cfg).filter(([, v]) => v !== undefined)) } as never;
    this.quotaUs = this.minQuotaUs = this.maxQuotaUs = cfg.baseUs;
  }

  get constrained(): boolean {
    return this.baseUs > 0;
  }

  /** The floor: a fraction of the base, never below what the kernel accepts. */
  get floorUs(): number {
    return Math.max(this.c.kernelMinUs, this.baseUs * this.c.minFraction);
  }

  step(inp: PeriodInput): PeriodDecision {
    if (!this.constrained) {
      return { quotaUs: this.baseUs, write: false, drop: false, chargedUs: 0, creditedUs: 0, consumedUs: inp.usedUs, debtUs: 0 };
    }
    const periods = Math.max(1, inp.elapsedUs / this.periodUs);
    const consumed = inp.usedUs - inp.creditUs + inp.chargeUs;
    // What it ran short of its entitlement is owed back only when it ran all the quota it was given (it was
    // throttled, so the shortfall is others' softirq that this period's quota did not yet give back), and at
    // most what it paid for others in this step: CFS banks no unused quota, and the credit is never more than
    // what was paid.
    const ranAll = inp.usedUs >= this.quotaUs * periods - this.c.stepUs;
    const lowest = ranAll && inp.creditUs > 0 ? -inp.creditUs : 0;
    this.debtUs = Math.max(lowest, this.debtUs + consumed - this.baseUs * periods);
    this.chargedUs += inp.chargeUs;
    this.creditedUs += inp.creditUs;
    // Per-period rates of the last step predict the next period's.
    const want = this.baseUs + (inp.creditUs - inp.chargeUs) / periods - this.debtUs;
    const hi = this.baseUs * this.c.maxFactor;
    // Steps are counted from the base, so a change smaller than a step leaves the base itself (33333 us stays
    // 33333, not 33000: rounding the base would take 1% from a group that only ever used its own).
    const next = this.baseUs + Math.round((Math.max(this.floorUs, Math.min(hi, want)) - this.baseUs) / this.c.stepUs) * this.c.stepUs;
    const quotaUs = Math.max(this.c.kernelMinUs, next);
    const write = quotaUs !== this.quotaUs;
    if (write) this.writes++;
    this.quotaUs = quotaUs;
    this.minQuotaUs = Math.min(this.minQuotaUs, quotaUs);
    this.maxQuotaUs = Math.max(this.maxQuotaUs, quotaUs);
    this.dropping = this.debtUs > 0;
    if (this.dropping) this.periodsDropping++;
    return {
      quotaUs,
      write,
      drop: this.dropping,
      chargedUs: inp.chargeUs,
      creditedUs: inp.creditUs,
      consumedUs: consumed,
      debtUs: this.debtUs,
    };
  }
}
