// Dropping for owners over their quota: flip an owner's IPv4 in the pinned ironlab_drop map when the controller
// (controller.ts) says so, and read per-owner drop counts (ironlab_dropcnt) for packets_dropped{ebpf_throttled}.
// The map is shared by the XDP program and the tc fallback (xdp.ts, tc.ts).
// Map updates go through libbpf on the pinned fd (microseconds) rather than a bpftool process per change.
import { closeFd, mapDelete, mapLookup, mapUpdate, pinnedFd } from './libbpf.ts';
import { DROP_MAP, DROPCNT_MAP } from './tc.ts';

export function ipKey(ipv4: string): Buffer {
  return Buffer.from(ipv4.split('.').map(Number)); // network order = dotted order
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
