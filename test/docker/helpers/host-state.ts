// What a run may change on the host and must put back: read before and after, compared by the suites.
import { readdirSync, readFileSync } from 'node:fs';

/** rps_cpus of every interface with a receive queue. */
export function rpsValues(): Record<string, string> {
  const out: Record<string, string> = {};
  for (const dev of readdirSync('/sys/class/net')) {
    try {
      out[dev] = readFileSync(`/sys/class/net/${dev}/queues/rx-0/rps_cpus`, 'utf8').trim();
    } catch {
      // no rx queue (bonding masters and the like)
    }
  }
  return out;
}

/** Each interface present both times kept its rps_cpus (interfaces a run created and removed do not count). */
export function changedRps(before: Record<string, string>, after: Record<string, string>): string[] {
  return Object.keys(before).filter((dev) => dev in after && after[dev] !== before[dev]);
}
