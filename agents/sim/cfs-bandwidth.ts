// CFS bandwidth control for one cgroup (kernel/sched/fair.c): a global runtime pool refilled with `quota`
// at every period boundary, per-CPU runtime drawn from it in slices (sched_cfs_bandwidth_slice_us, 5 ms),
// throttling when a CPU's runtime is spent and the pool is empty, unthrottling at the refill.
// Charges may push a CPU's runtime negative (IRON charges network time after the fact); the debt is then
// repaid from the next refills, so the group stays throttled until it has paid.

export class CfsBandwidth {
  quotaNs = 0;
  readonly periodNs: number = 0;
  readonly sliceNs: number = 0;
  /** Global pool for the current period. */
  pool = 0;
  /** Per-CPU runtime_remaining. */
  readonly remain: Float64Array;
  readonly throttled: Uint8Array;
  private readonly throttledSince: Float64Array;
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
    this.remain = new Float64Array(cores);
    this.throttled = new Uint8Array(cores);
    this.throttledSince = new Float64Array(cores);
    this.nextRefillNs = phaseNs > 0 ? phaseNs : periodNs;
  }

  /** Runtime a task of this group could use on `cpu` right now before being throttled. */
  available(cpu: number): number {
    if (this.throttled[cpu]) return 0;
    return this.remain[cpu] + this.pool;
  }

  /** Charge `ns` of CPU time on `cpu`; throttles the CPU's queue when runtime cannot be replenished. */
  charge(cpu: number, ns: number, now: number): void {
    this.usageNs += ns;
    this.usedThisPeriodNs += ns;
    // Read once (this runs several times per event): runtime left, and only when it is spent the pool and the throttle.
    const left = this.remain[cpu] - ns;
    this.remain[cpu] = left;
    if (left > 0) return;
    this.acquire(cpu);
    if (this.remain[cpu] <= 0 && !this.throttled[cpu]) this.throttle(cpu, now);
  }

  /** `cpu` runs unthrottled with its runtime spent (an exact exhaustion event may leave a rounding crumb). */
  spent(cpu: number): boolean {
    return !this.throttled[cpu] && this.remain[cpu] + this.pool <= 1e-3;
  }

  /** Throttle `cpu` if its runtime is spent. */
  throttleIfSpent(cpu: number, now: number): void {
    if (!this.spent(cpu)) return;
    this.acquire(cpu);
    if (this.remain[cpu] <= 1e-3) this.throttle(cpu, now);
  }

  isThrottled(cpu: number): boolean {
    return this.throttled[cpu] === 1;
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
      for (let cpu = 0; cpu < this.throttled.length; cpu++) {
        if (!this.throttled[cpu]) continue;
        this.acquire(cpu);
        if (this.remain[cpu] > 0) this.unthrottle(cpu, now);
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
    for (let cpu = 0; cpu < this.throttled.length; cpu++) {
      if (this.remain[cpu] < 0) this.remain[cpu] = 0; // the write resets per-CPU runtime state
      if (this.throttled[cpu]) {
        this.acquire(cpu);
        if (this.remain[cpu] > 0) this.unthrottle(cpu, now);
      }
    }
    return overGrant;
  }

  /** Close open throttle intervals so throttled time is exact at a snapshot. */
  settle(now: number): void {
    for (let cpu = 0; cpu < this.throttled.length; cpu++) {
      if (!this.throttled[cpu]) continue;
      this.throttledTimeNs += now - this.throttledSince[cpu];
      this.throttledSince[cpu] = now;
    }
  }

  /** Outstanding debt: negative runtime not yet repaid. */
  debtNs(): number {
    let d = 0;
    for (let cpu = 0; cpu < this.remain.length; cpu++) if (this.remain[cpu] < 0) d -= this.remain[cpu];
    return d;
  }

  private acquire(cpu: number): void {
    const want = this.sliceNs - this.remain[cpu];
    const amount = Math.min(this.pool, want);
    if (amount <= 0) return;
    this.pool -= amount;
    this.remain[cpu] += amount;
  }

  private throttle(cpu: number, now: number): void {
    this.throttled[cpu] = 1;
    this.throttledSince[cpu] = now;
    this.throttledThisPeriod = true;
  }

  private unthrottle(cpu: number, now: number): void {
    this.throttled[cpu] = 0;
    this.throttledTimeNs += now - this.throttledSince[cpu];
  }
}
