// Dropping for throttled owners: flip an owner's IPv4 in the pinned ironlab_drop map when its cgroup starts or
// stops being throttled, and read per-owner drop counts (ironlab_dropcnt) for packets_dropped{ebpf_throttled}.
// Map updates go through libbpf on the pinned fd (microseconds) rather than a bpftool process per change.
import { readFileSync } from 'node:fs';
import { closeFd, mapDelete, mapLookup, mapUpdate, pinnedFd } from './libbpf.ts';
import { DROP_MAP, DROPCNT_MAP } from './tc.ts';

export function ipKey(ipv4: string): Buffer {
  return Buffer.from(ipv4.split('.').map(Number)); // network order = dotted order
}

export interface CpuStat {
  nrPeriods: number;
  nrThrottled: number;
  throttledTimeNs: number;
}
export function readCpuStat(cgroupCpuPath: string): CpuStat {
  const kv = Object.fromEntries(
    readFileSync(`${cgroupCpuPath}/cpu.stat`, 'utf8').trim().split('\n').map((l) => l.split(' ') as [string, string]),
  );
  return { nrPeriods: Number(kv.nr_periods ?? 0), nrThrottled: Number(kv.nr_throttled ?? 0), throttledTimeNs: Number(kv.throttled_time ?? 0) };
}

/**
 * IRON drops an owner's packets while its runtime is exhausted. We see that a tick late: it was throttled in
 * the last tick (nr_throttled grew) and still owes network time, or it owes more than a whole period's quota
 * (lowering its quota cannot pay that back within a tick).
 */
export function shouldDrop(throttledDelta: number, debtUs: number, baseQuotaUs: number): boolean {
  return (throttledDelta > 0 && debtUs > 0) || debtUs > baseQuotaUs;
}

export class DropMap {
  private fd: number;
  private cntFd: number;
  private on = new Set<string>();
  constructor() {
    this.fd = pinnedFd(DROP_MAP);
    this.cntFd = pinnedFd(DROPCNT_MAP);
  }

  /** Set or clear an owner's drop flag; writes only on change. Returns true when it changed. */
  set(ipv4: string, drop: boolean): boolean {
    if (drop === this.on.has(ipv4)) return false;
    if (drop) {
      const v = Buffer.alloc(4);
      v.writeUInt32LE(1);
      mapUpdate(this.fd, ipKey(ipv4), v);
      this.on.add(ipv4);
    } else {
      mapDelete(this.fd, ipKey(ipv4));
      this.on.delete(ipv4);
    }
    return true;
  }

  isOn(ipv4: string): boolean {
    return this.on.has(ipv4);
  }

  /** Packets dropped for an owner since the map was created. */
  dropped(ipv4: string): number {
    const v = mapLookup(this.cntFd, ipKey(ipv4), 8);
    return v ? Number(v.readBigUInt64LE(0)) : 0;
  }

  /** Clear every flag we set, then let go of the map. */
  close(): void {
    for (const ip of [...this.on]) this.set(ip, false);
    closeFd(this.fd);
    closeFd(this.cntFd);
  }
}
