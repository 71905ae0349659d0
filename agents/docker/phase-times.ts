// Where a run's wall time goes, by phase and sub-step (`setup.containers`, `teardown.remove`...), in ms. The
// backend keeps the last few runs' times for the docker bench, which prints them; nothing is stored.
export class PhaseTimes {
  private readonly byRun = new Map<string, Record<string, number>>();

  /** Run `f`, adding its wall time to `step` of run `runId`. */
  async time<T>(runId: string, step: string, f: () => Promise<T> | T): Promise<T> {
    const t0 = performance.now();
    try {
      return await f();
    } finally {
      this.add(runId, step, performance.now() - t0);
    }
  }

  add(runId: string, step: string, ms: number): void {
    let r = this.byRun.get(runId);
    if (!r) {
      if (this.byRun.size >= 16) this.byRun.delete(this.byRun.keys().next().value!); // the oldest run
      this.byRun.set(runId, (r = {}));
    }
    r[step] = (r[step] ?? 0) + ms;
  }

  of(runId: string): Record<string, number> {
    return { ...(this.byRun.get(runId) ?? {}) };
  }
}
