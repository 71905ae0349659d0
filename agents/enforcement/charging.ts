// Charging through CFS bandwidth (research/ebpf-iron.md §5): no BPF helper can take runtime from a cgroup, so
// the controller (controller.ts) moves each container's quota instead (cgroup v1 cpu.cfs_quota_us, v2 cpu.max). This is its I/O side: read
// the original quotas (recorded for the reaper), run one controller step per group per CFS period, write a
// quota only when it changed (every write refills the group's runtime, even the same value), put the
// originals back at the end.
import { readFileSync, writeFileSync } from 'node:fs';
import { formatQuota, parseQuotaUs, quotaFileOf, readPeriodUs, type CgroupPaths } from '../docker/cgroup-files.ts';
import { GroupController, type ControllerConfig, type PeriodDecision, type PeriodInput } from './controller.ts';

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
  /** Its cgroup's version and cpu directory (where the quota and the period are). */
  cgroup: Pick<CgroupPaths, 'version' | 'cpu'>;
}
export interface ChargingOptions extends Omit<ControllerConfig, 'baseUs' | 'periodUs'> {
  io?: QuotaIo;
}

export class ChargingController {
  private groups = new Map<string, { file: string; ctl: GroupController }>();
  private io: QuotaIo;

  constructor(groups: readonly ChargedGroup[], opts: ChargingOptions = {}) {
    const { io, ...cfg } = opts;
    this.io = io ?? fsQuotaIo;
    for (const g of groups) {
      const file = quotaFileOf(g.cgroup.cpu, g.cgroup.version);
      const baseUs = parseQuotaUs(this.io.read(file));
      const periodUs = readPeriodUs(g.cgroup.cpu, g.cgroup.version, this.io.read);
      this.groups.set(g.name, { file, ctl: new GroupController({ ...cfg, baseUs, periodUs }) });
    }
  }

  /** Original quotas, for the state file (so a reaper can restore them after a crash). */
  originals(): { file: string; quotaUs: number }[] {
    return [...this.groups.values()].map((g) => ({ file: g.file, quotaUs: g.ctl.baseUs }));
  }

  /** One controller step (one CFS period) per group with an input; writes the quotas that changed. */
  period(inputs: ReadonlyMap<string, PeriodInput>): Map<string, PeriodDecision> {
    const out = new Map<string, PeriodDecision>();
    for (const [name, g] of this.groups) {
      const inp = inputs.get(name);
      if (!inp || !g.ctl.constrained) continue;
      const d = g.ctl.step(inp);
      if (d.write) this.io.write(g.file, formatQuota(g.file, d.quotaUs));
      out.set(name, d);
    }
    return out;
  }

  state(name: string): Readonly<GroupController> | undefined {
    return this.groups.get(name)?.ctl;
  }

  /** Put every original quota back (only where we changed it). Idempotent. */
  restore(): void {
    for (const g of this.groups.values()) {
      if (g.ctl.quotaUs === g.ctl.baseUs) continue;
      try {
        this.io.write(g.file, formatQuota(g.file, g.ctl.baseUs));
      } catch {
        /* the cgroup is gone with its container */
      }
      g.ctl.quotaUs = g.ctl.baseUs;
    }
  }
}
