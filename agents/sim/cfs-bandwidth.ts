// CFS bandwidth control for one cgroup (kernel/sched/fair.c): a global runtime pool refilled with `quota`
// at every period boundary, per-CPU runtime drawn from it in slices (sched_cfs_bandwidth_slice_us, 5 ms),
// throttling when a CPU's runtime is spent and the pool is empty, unthrottling at the refill.
// Charges may push a CPU's runtime negative (IRON charges network time after the fact); the debt is then
// repaid from the next refills, so the group stays throttled until it has paid.

/**
 * One CPU's runtime state of a group, as the fields of one object: the engine asks available / spent / charge for a
 * group several times per event, and a field is two loads in V8's optimised code where a per-CPU typed-array
 * element is ~9 instructions (map, length and bounds checks, base pointers).
 */
class CpuRuntime {
  /** runtime_remaining */
  remain = 0;
  throttled = false;
  throttledSince = 0;
}

export class CfsBandwidth {
  quotaNs = 0;
  readonly periodNs: number = 0;
  readonly sliceNs: number = 0;
  /** Global pool for the current period. */
  pool = 0;
  private readonly cpu: CpuRuntime[] = [];
  nextRefillNs = 0;
  // cpu.stat style counters
  usageNs = 0;
  nrPeriods = 0;
  nrThrottled = 0;
  throttledTimeNs = 0;
  /** Usage within the current period, and the largest usage of any completed period (for invariants). */
  usedThisPeriodNs = 0;
  maxPeriodUsageNs = 0;
  private throttledThisPeriod = false;

  constructor(quotaNs: number, periodNs: number, sliceNs: number, cores: number, phaseNs: number) {
    this.quotaNs = quotaNs;
    this.periodNs = periodNs;
    this.sliceNs = sliceNs;
    this.pool = quotaNs;
    for (let c = 0; c < cores; c++) this.cpu.push(new CpuRuntime());
    this.nextRefillNs = phaseNs > 0 ? phaseNs : periodNs;
  }

  /** Runtime a task of this group could use on `cpu` right now before being throttled. */
  available(cpu: number): number {
    const q = this.cpu[cpu];
    if (q.throttled === true) return 0;
    return q.remain + this.pool;
  }

  /** Charge `ns` of CPU time on `cpu`; throttles the CPU's queue when runtime cannot be replenished. */
  charge(cpu: number, ns: number, now: number): void {
    this.usageNs += ns;
    this.usedThisPeriodNs += ns;
    // Read once (this runs several times per event): runtime left, and only when it is spent the pool and the throttle.
    const q = this.cpu[cpu];
    const left = q.remain - ns;
    q.remain = left;
    if (!(left > 0)) this.refillOrThrottle(q, now);
  }

  /** charge's rare part (its own function: the engine's advance inlines charge, and V8's inlining budget is small). */
  private refillOrThrottle(q: CpuRuntime, now: number): void {
    this.acquire(q);
    if (q.remain <= 0 && q.throttled !== true) this.throttle(q, now);
  }

  /** `cpu` runs unthrottled with its runtime spent (an exact exhaustion event may leave a rounding crumb). */
  spent(cpu: number): boolean {
    const q = this.cpu[cpu];
    return q.throttled !== true && q.remain + this.pool <= 1e-3;
  }

  /** Throttle `cpu` if its runtime is spent. */
  throttleIfSpent(cpu: number, now: number): void {
    if (!this.spent(cpu)) return;
    const q = this.cpu[cpu];
    this.acquire(q);
    if (q.remain <= 1e-3) this.throttle(q, now);
  }

  isThrottled(cpu: number): boolean {
    return this.cpu[cpu].throttled === true;
  }

  /** Period timer: refill the pool and unthrottle queues whose debt is paid. */
  tick(now: number): void {
    while (now >= this.nextRefillNs) {
      this.nrPeriods++;
      if (this.throttledThisPeriod) this.nrThrottled++;
      this.throttledThisPeriod = false;
      if (this.usedThisPeriodNs > this.maxPeriodUsageNs) this.maxPeriodUsageNs = this.usedThisPeriodNs;
      this.usedThisPeriodNs = 0;
      this.pool = this.quotaNs;
      this.nextRefillNs += this.periodNs;
      for (const q of this.cpu) {
        if (q.throttled !== true) continue;
        this.acquire(q);
        if (q.remain > 0) this.unthrottle(q, now);
        else this.throttledThisPeriod = true; // still paying off debt
      }
    }
  }

  /**
   * Rewrite cpu.cfs_quota_us as the eBPF controller does. Linux refills the pool on every write
   * (tg_set_cfs_bandwidth) and unthrottles, so runtime already used this period is granted again:
   * the over-grant is returned so the caller can carry it as debt.
   */
  rewriteQuota(quotaNs: number, now: number): number {
    const overGrant = Math.min(this.usedThisPeriodNs, quotaNs);
    this.quotaNs = quotaNs;
    this.pool = quotaNs;
    for (const q of this.cpu) {
      if (q.remain < 0) q.remain = 0; // the write resets per-CPU runtime state
      if (q.throttled === true) {
        this.acquire(q);
        if (q.remain > 0) this.unthrottle(q, now);
      }
    }
    return overGrant;
  }

  /** Close open throttle intervals so throttled time is exact at a snapshot. */
  settle(now: number): void {
    for (const q of this.cpu) {
      if (q.throttled !== true) continue;
      this.throttledTimeNs += now - q.throttledSince;
      q.throttledSince = now;
    }
  }

  /** Outstanding debt: negative runtime not yet repaid. */
  debtNs(): number {
    let d = 0;
    for (const q of this.cpu) if (q.remain < 0) d -= q.remain;
    return d;
  }

  private acquire(q: CpuRuntime): void {
    const want = this.sliceNs - q.remain;
    const amount = Math.min(this.pool, want);
    if (amount <= 0) return;
    this.pool -= amount;
    q.remain += amount;
  }

  private throttle(q: CpuRuntime, now: number): void {
    q.throttled = true;
    q.throttledSince = now;
    this.throttledThisPeriod = true;
  }

  private unthrottle(q: CpuRuntime, now: number): void {
    q.throttled = false;
    this.throttledTimeNs += now - q.throttledSince;
  }
}
