// A per-core CFS run queue, reduced to what matters here: each entity (a container's task, or the core's
// ksoftirqd in the root cgroup) has a weight and a vruntime; the scheduler keeps the current entity until
// another runnable one is behind it by more than the granularity, so tasks alternate in slices as CFS does.
// A waking entity is placed at min_vruntime - sched_latency/2 (sleeper credit) and may preempt the current
// one if it is behind by more than the wakeup granularity: this is how ksoftirqd gets the core quickly.

export interface SchedEntity {
  /** Index of the container (0 = victim, 1..K = neighbours) or -1 for ksoftirqd. */
  readonly container: number;
  readonly weight: number;
  vruntime: number;
  /** Was runnable at the last pick (to detect wakeups). */
  wasRunnable: boolean;
  /** Woke since it last ran: eligible for wakeup preemption. */
  woke: boolean;
}

export class RunQueue {
  readonly entities: SchedEntity[] = [];
  minVruntime = 0;
  current: SchedEntity | null = null;

  constructor(
    private readonly sliceNs: number,
    private readonly wakeupGranNs: number,
    private readonly sleeperCreditNs: number,
  ) {}

  add(container: number, weight = 1024): SchedEntity {
    const e: SchedEntity = { container, weight, vruntime: this.minVruntime, wasRunnable: false, woke: false };
    this.entities.push(e);
    return e;
  }

  /** Note which entities are runnable now; place the ones that just woke up. */
  private place(runnable: (e: SchedEntity) => boolean): void {
    for (const e of this.entities) {
      const r = runnable(e);
      if (r && !e.wasRunnable) {
        const floor = this.minVruntime - this.sleeperCreditNs;
        if (e.vruntime < floor) e.vruntime = floor;
        e.woke = true;
      }
      e.wasRunnable = r;
    }
  }

  /** Choose the entity to run next, or null (idle). */
  pick(runnable: (e: SchedEntity) => boolean): SchedEntity | null {
    this.place(runnable);
    let best: SchedEntity | null = null;
    for (const e of this.entities) {
      if (!e.wasRunnable) continue;
      if (best === null || e.vruntime < best.vruntime) best = e;
    }
    const cur = this.current;
    if (best !== null && cur !== null && cur !== best && cur.wasRunnable) {
      // Keep the current entity within its slice, unless a woken one is far enough behind.
      const gran = best.woke ? this.wakeupGranNs : this.sliceNs;
      if (cur.vruntime - best.vruntime < gran) best = cur;
    }
    this.current = best;
    if (best) best.woke = false;
    return best;
  }

  /** Account `ns` of execution to an entity's vruntime (weight-scaled), and advance min_vruntime. */
  account(e: SchedEntity, ns: number): void {
    e.vruntime += (ns * 1024) / e.weight;
    let min = Infinity;
    for (const x of this.entities) if (x.wasRunnable && x.vruntime < min) min = x.vruntime;
    if (min !== Infinity && min > this.minVruntime) this.minVruntime = min;
  }
}

/** Container index of the group entity that stands for the `docker` parent cgroup in a core's top run queue. */
export const DOCKER_GROUP = -2;

/**
 * The run queues of one core with the cgroup hierarchy: with Docker's cgroupfs driver (cgroup v1) every
 * container's cgroup sits under /sys/fs/cgroup/cpu/docker/, so the core's top-level CFS run queue holds the
 * root cgroup's tasks (ksoftirqd, weight 1024) and one group entity for `docker` (cpu.shares 1024); the
 * containers share the docker group's time in its own run queue. A flat hierarchy (containers directly under
 * the root, as with a custom --cgroup-parent=/) puts all of them beside ksoftirqd in one queue.
 */
export class CoreScheduler {
  readonly top: RunQueue;
  /** The docker group's run queue (null when the hierarchy is flat). */
  readonly child: RunQueue | null;
  readonly ksoftirqd: SchedEntity;
  private readonly group: SchedEntity | null;
  private readonly entityOf = new Map<number, SchedEntity>();
  // Reused by pick() so the hot loop allocates no closure per call.
  private anyChild = false;
  private outer: (e: SchedEntity) => boolean = () => false;
  private readonly topRunnable = (x: SchedEntity): boolean => (x === this.group ? this.anyChild : this.outer(x));

  constructor(containers: number[], dockerParent: boolean, sliceNs: number, wakeupGranNs: number, sleeperCreditNs: number) {
    this.top = new RunQueue(sliceNs, wakeupGranNs, sleeperCreditNs);
    this.child = dockerParent ? new RunQueue(sliceNs, wakeupGranNs, sleeperCreditNs) : null;
    for (const i of containers) this.entityOf.set(i, (this.child ?? this.top).add(i));
    this.group = this.child && containers.length > 0 ? this.top.add(DOCKER_GROUP) : null;
    this.ksoftirqd = this.top.add(-1);
  }

  /** Nothing but ksoftirqd lives on this core. */
  get empty(): boolean {
    return this.entityOf.size === 0;
  }

  /** Pick the task to run: ksoftirqd or the docker group at the top, then a container inside the group. */
  pick(runnable: (e: SchedEntity) => boolean): SchedEntity | null {
    const child = this.child;
    const group = this.group;
    if (child === null || group === null) return this.top.pick(runnable);
    let anyChild = false;
    const ents = child.entities;
    for (let k = 0; k < ents.length; k++) if (runnable(ents[k])) { anyChild = true; break; }
    this.anyChild = anyChild;
    this.outer = runnable;
    const e = this.top.pick(this.topRunnable);
    if (e !== group) return e;
    return child.pick(runnable);
  }

  /** `ns` of execution by `e` (and by its parent group entity). */
  account(e: SchedEntity, ns: number): void {
    if (e.container >= 0 && this.child !== null) {
      this.child.account(e, ns);
      this.top.account(this.group!, ns);
    } else this.top.account(e, ns);
  }

  /** `ns` spent in softirq on container `i`'s time: its clock (and its group's) runs on. */
  accountContainer(i: number, ns: number): void {
    const e = this.entityOf.get(i);
    if (e) this.account(e, ns);
  }
}
