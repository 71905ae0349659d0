// Why a run may differ from another: what the rest of the host did to the cores over the window.
//   steal_time_s {core}            /proc/stat steal (ticks of 10 ms): the hypervisor ran another guest
//   foreign_cpu_time_s {core, who} CPU on the victim's and NIC's cores outside the run's containers and ksoftirqd:
//                                  each of the experiment's own groups from its cpuacct.usage_percpu (exact ns,
//                                  quiet-cores.ts), `other` = every task on the core (the root cpuacct) minus
//                                  Docker's containers, those groups and ksoftirqd (schedstat ns): exact to the
//                                  microsecond, except that a process moved out of the window's groups (none
//                                  should) would count as other
//   softirq_count {core, vec}      /proc/softirqs, every vector: softirqs raised and run
// and the receive path's regime (see README.md, "Two regimes of the udp-receiver flood"):
//   softnet_processed / softnet_dropped / softnet_time_squeeze / softnet_received_rps {core}: /proc/net/softnet_stat
//   ipi_count {core, kind: CAL|RES}: function-call (RPS kicks are among them) and rescheduling IPIs
import { METRIC, sample, type Sample } from '../samples.ts';
import { EXPERIMENT_WHO } from './experiment-processes.ts';
import type { Snapshot } from './counters.ts';
import { USER_HZ } from './window-samples.ts';

export function hostCpuSamples(a: Snapshot, b: Snapshot, watchedCores: number[]): Sample[] {
  const out: Sample[] = [];
  for (const [core, tb] of b.cores) {
    const ta = a.cores.get(core);
    if (!ta) continue;
    out.push(sample(METRIC.stealTimeS, (tb.steal - ta.steal) / USER_HZ, 's', { core: String(core) }));
  }
  for (const [vec, counts] of Object.entries(b.softirqs))
    counts.forEach((n, core) => out.push(sample(METRIC.softirqCount, n - (a.softirqs[vec]?.[core] ?? 0), 'count', { core: String(core), vec })));
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
    (hb.ipis[kind] ?? []).forEach((n, core) => out.push(sample('ipi_count', n - (ha.ipis[kind]?.[core] ?? 0), 'count', { core: String(core), kind })));
  return out;
}
