// Why a run may differ from another: what the rest of the host did to the cores over the window.
//   steal_time_s {core}            /proc/stat steal (ticks of 10 ms): the hypervisor ran another guest
//   foreign_cpu_time_s {core, who} CPU on the victim's and NIC's cores outside the run's containers and ksoftirqd:
//                                  each of the experiment's own groups from its cpuacct.usage_percpu (exact ns,
//                                  quiet-cores.ts), `other` = every task on the core (the root cpuacct) minus
//                                  Docker's containers, those groups and ksoftirqd (schedstat ns): exact to the
//                                  microsecond, except that a process moved out of the window's groups (none
//                                  should) would count as other
//   softirq_count {core, vec}      /proc/softirqs, every vector: softirqs raised and run
// and the receive path's regime (see agents/docker/README.md, "Where softirq runs: two regimes"):
//   softirq_deferred_share {core}: ksoftirqd's part of the core's softirq time (/proc/stat ticks), victim's cores;
//                                  softirqRegime() names it for the provenance
//   softnet_processed / softnet_dropped / softnet_time_squeeze / softnet_received_rps {core}: /proc/net/softnet_stat
//   ipi_count {core, kind: CAL|RES}: function-call (RPS kicks are among them) and rescheduling IPIs
import { METRIC, sample, type Sample } from '../samples.ts';
import { EXPERIMENT_WHO } from './experiment-processes.ts';
import type { Snapshot } from './counters.ts';
import { coreCategories, USER_HZ } from './window-samples.ts';

/** Below this share of the window in softirq, a core has no regime to speak of (the sysbench control). */
const QUIET_SOFTIRQ_SHARE = 0.02;

/**
 * Where the victim's cores ran their softirq work over the window: `ksoftirqd` when the thread did most of it
 * (net_rx_action ran out of budget and handed over: a CFS task competing with the containers), `inline` when
 * most ran on return from the interrupt that raised it (charged to whichever task it interrupted), `quiet`
 * when there was little. The share per core is a sample, the word a provenance field the report can group by.
 */
export function softirqRegime(a: Snapshot, b: Snapshot, cores: number[]): { regime: 'ksoftirqd' | 'inline' | 'quiet'; samples: Sample[] } {
  const samples: Sample[] = [];
  let softirq = 0;
  let ksoftirqd = 0;
  const windowS = (b.atMs - a.atMs) / 1000;
  for (const core of [...new Set(cores)]) {
    if (!a.cores.has(core) || !b.cores.has(core)) continue;
    const c = coreCategories(core, a, b, []);
    const total = c.ksoftirqd + c.softirq_task;
    softirq += total;
    ksoftirqd += c.ksoftirqd;
    samples.push(sample('softirq_deferred_share', total > 0 ? c.ksoftirqd / total : 0, 'fraction', { core: String(core) }));
  }
  const regime =
    softirq < QUIET_SOFTIRQ_SHARE * windowS * Math.max(1, samples.length) ? 'quiet' : ksoftirqd / softirq >= 0.5 ? 'ksoftirqd' : 'inline';
  return { regime, samples };
}

export function hostCpuSamples(a: Snapshot, b: Snapshot, watchedCores: number[]): Sample[] {
  const out: Sample[] = [];
  for (const [core, tb] of b.cores) {
    const ta = a.cores.get(core);
    if (!ta) continue;
    out.push(sample(METRIC.stealTimeS, (tb.steal - ta.steal) / USER_HZ, 's', { core: String(core) }));
  }
  for (const [vec, counts] of Object.entries(b.softirqs))
    counts.forEach((n, core) =>
      out.push(sample(METRIC.softirqCount, n - (a.softirqs[vec]?.[core] ?? 0), 'count', { core: String(core), vec })),
    );
  const ha = a.host;
  const hb = b.host;
  if (!ha || !hb) return out;
  const d = (x: number[] | undefined, y: number[] | undefined, core: number) => ((y?.[core] ?? 0) - (x?.[core] ?? 0)) / 1e9;
  for (const core of [...new Set(watchedCores)].sort((x, y) => x - y)) {
    const labels = (who: string) => ({ core: String(core), who });
    let ours = 0;
    for (const who of EXPERIMENT_WHO) {
      if (!hb.whoPercpuNs.has(who)) continue;
      const s = d(ha.whoPercpuNs.get(who), hb.whoPercpuNs.get(who), core);
      ours += s;
      out.push(sample(METRIC.foreignCpuTimeS, s, 's', labels(who)));
    }
    if (hb.rootPercpuNs.length) {
      const ksoftirqd = hb.ksoftirqdNs.has(core)
        ? ((hb.ksoftirqdNs.get(core) ?? 0) - (ha.ksoftirqdNs.get(core) ?? 0)) / 1e9
        : ((b.ksoftirqdTicks.get(core) ?? 0) - (a.ksoftirqdTicks.get(core) ?? 0)) / USER_HZ;
      const other = d(ha.rootPercpuNs, hb.rootPercpuNs, core) - d(ha.dockerPercpuNs, hb.dockerPercpuNs, core) - ours - ksoftirqd;
      out.push(sample(METRIC.foreignCpuTimeS, Math.max(0, other), 's', labels('other')));
    }
  }
  for (const [core, y] of hb.softnet) {
    const x = ha.softnet.get(core);
    if (!x) continue;
    const c = { core: String(core) };
    out.push(sample('softnet_processed', y.processed - x.processed, 'packets', c));
    out.push(sample('softnet_dropped', y.dropped - x.dropped, 'packets', c));
    out.push(sample('softnet_time_squeeze', y.timeSqueeze - x.timeSqueeze, 'count', c));
    out.push(sample('softnet_received_rps', y.receivedRps - x.receivedRps, 'count', c));
  }
  for (const kind of ['CAL', 'RES'])
    (hb.ipis[kind] ?? []).forEach((n, core) =>
      out.push(sample('ipi_count', n - (ha.ipis[kind]?.[core] ?? 0), 'count', { core: String(core), kind })),
    );
  return out;
}
