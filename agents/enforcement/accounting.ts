// Softirq accounting by packet owner: load ironlab_acct.bpf.o (tp_btf programs via libbpf), read its per-CPU
// maps, and turn counter deltas into per-container figures and samples. Runs under every enforcement mode, so
// `none` runs also show where the network softirq time went (accounting without enforcing).
import { statSync } from 'node:fs';
import { BpfObject, mapKeys, mapLookup, possibleCpus } from './libbpf.ts';
import { METRIC, sample, type Sample } from '../samples.ts';

export type Vec = 'NET_RX' | 'NET_TX';
const VEC_NAME: Record<number, Vec> = { 2: 'NET_TX', 3: 'NET_RX' };
/** struct cpu_state in ironlab_acct.bpf.c: PENDING slots of 32 bytes, then the per-vector totals. */
const PENDING = 4;
const SLOT_SIZE = 32;
const TOT_TX = PENDING * SLOT_SIZE;
const TOT_RX = TOT_TX + 8;
/** sizeof(struct cpu_state) (per-CPU stride of ironlab_state). */
const STATE_SIZE = 216;

/** One row of the attribution table: `ns` of `vec` softirq owned by `owner` that ran while `ctxCg` was current. */
export interface AcctRow {
  cpu: number;
  ctxCg: number; // inode of the interrupted task's cpu cgroup directory
  owner: string; // dotted IPv4, '0.0.0.0' = no IPv4 packet (unattributed)
  vec: Vec;
  ns: number;
  packets: number;
}
export interface AcctSnapshot {
  rows: AcctRow[];
  /** Softirq time per CPU per vector as the entry/exit tracepoints measured it. */
  totals: { cpu: number; vec: Vec; ns: number }[];
}

export interface Owner {
  name: string;
  ipv4: string;
  /** Inode of the container's cpu-cgroup directory (what the BPF side records as ctxCg). */
  cgroupIno?: number;
}

export function cgroupInode(path: string): number {
  return statSync(path).ino;
}

export function ipFromNetU32(le: number): string {
  return [le & 255, (le >>> 8) & 255, (le >>> 16) & 255, (le >>> 24) & 255].join('.');
}

/** Live accounting: the attached programs plus readers of their maps. */
export class Accounting {
  private ncpu = possibleCpus();
  private constructor(private obj: BpfObject) {}

  static start(objPath: string): Accounting {
    return new Accounting(BpfObject.openAndAttach(objPath));
  }

  snapshot(): AcctSnapshot {
    const rows: AcctRow[] = [];
    const acct = this.obj.mapFd('ironlab_acct');
    for (const k of mapKeys(acct, 16)) {
      const v = mapLookup(acct, k, 16 * this.ncpu);
      if (!v) continue; // deleted meanwhile
      const vec = VEC_NAME[k.readUInt32LE(12)];
      if (!vec) continue;
      const ctxCg = Number(k.readBigUInt64LE(0));
      const owner = ipFromNetU32(k.readUInt32LE(8));
      for (let cpu = 0; cpu < this.ncpu; cpu++) {
        const ns = Number(v.readBigUInt64LE(cpu * 16));
        const packets = Number(v.readBigUInt64LE(cpu * 16 + 8));
        if (ns || packets) rows.push({ cpu, ctxCg, owner, vec, ns, packets });
      }
    }
    // Then what each CPU holds pending (not yet in the hash; see cpu_state in the C source). Reading the hash
    // first means a flush racing with us can only delay a part to the next snapshot, never count it twice.
    const stFd = this.obj.mapFd('ironlab_state');
    const st = mapLookup(stFd, Buffer.alloc(4), STATE_SIZE * this.ncpu);
    for (let cpu = 0; st && cpu < this.ncpu; cpu++) {
      for (let slot = 0; slot < PENDING; slot++) {
        const o = cpu * STATE_SIZE + slot * SLOT_SIZE;
        const vec = VEC_NAME[st.readUInt32LE(o + 12)];
        if (!vec) continue;
        const row = {
          cpu,
          ctxCg: Number(st.readBigUInt64LE(o)),
          owner: ipFromNetU32(st.readUInt32LE(o + 8)),
          vec,
          ns: Number(st.readBigUInt64LE(o + 16)),
          packets: Number(st.readBigUInt64LE(o + 24)),
        };
        const same = rows.find((r) => r.cpu === cpu && r.ctxCg === row.ctxCg && r.owner === row.owner && r.vec === vec);
        if (same) {
          same.ns += row.ns;
          same.packets += row.packets;
        } else rows.push(row);
      }
    }
    const totals: AcctSnapshot['totals'] = [];
    for (let cpu = 0; st && cpu < this.ncpu; cpu++) {
      totals.push({ cpu, vec: 'NET_TX', ns: Number(st.readBigUInt64LE(cpu * STATE_SIZE + TOT_TX)) });
      totals.push({ cpu, vec: 'NET_RX', ns: Number(st.readBigUInt64LE(cpu * STATE_SIZE + TOT_RX)) });
    }
    return { rows, totals };
  }

  stop(): void {
    this.obj.close();
  }
}

/** Counter deltas b - a (rows absent from a count from zero). */
export function diffSnapshots(a: AcctSnapshot, b: AcctSnapshot): AcctSnapshot {
  const key = (r: AcctRow) => `${r.cpu}|${r.ctxCg}|${r.owner}|${r.vec}`;
  const before = new Map(a.rows.map((r) => [key(r), r]));
  const rows = b.rows.map((r) => {
    const p = before.get(key(r));
    return { ...r, ns: r.ns - (p?.ns ?? 0), packets: r.packets - (p?.packets ?? 0) };
  });
  const tb = new Map(a.totals.map((t) => [`${t.cpu}|${t.vec}`, t.ns]));
  return { rows, totals: b.totals.map((t) => ({ ...t, ns: t.ns - (tb.get(`${t.cpu}|${t.vec}`) ?? 0) })) };
}

export interface OwnerFigures {
  attributedNs: Record<Vec, number>;
  /** Owned softirq time that ran outside the owner's own cgroup: the kernel charged someone else (or no one). */
  chargeNs: number;
  /** Time the owner's tasks were interrupted for packets that are not its own. */
  creditNs: number;
}
export interface Summary {
  owners: Map<string, OwnerFigures>;
  unattributedNs: Record<Vec, number>;
  totalNs: Record<Vec, number>;
}

/** Fold a delta snapshot into per-container figures. Packets of IPs we do not know count as unattributed. */
export function summarize(d: AcctSnapshot, owners: readonly Owner[]): Summary {
  const byIp = new Map(owners.map((o) => [o.ipv4, o]));
  const byIno = new Map(owners.filter((o) => o.cgroupIno !== undefined).map((o) => [o.cgroupIno!, o]));
  const fig = new Map(owners.map((o) => [o.name, { attributedNs: { NET_RX: 0, NET_TX: 0 }, chargeNs: 0, creditNs: 0 }]));
  const unattributedNs = { NET_RX: 0, NET_TX: 0 };
  for (const r of d.rows) {
    const owner = byIp.get(r.owner);
    const ctx = byIno.get(r.ctxCg);
    if (owner) {
      const f = fig.get(owner.name)!;
      f.attributedNs[r.vec] += r.ns;
      if (ctx !== owner) f.chargeNs += r.ns;
    } else {
      unattributedNs[r.vec] += r.ns;
    }
    // Credit only for IPv4 packets of someone else: a non-IP softirq has no known owner to move the time to.
    if (ctx && ctx !== owner && r.owner !== '0.0.0.0') fig.get(ctx.name)!.creditNs += r.ns;
  }
  const totalNs = { NET_RX: 0, NET_TX: 0 };
  for (const t of d.totals) totalNs[t.vec] += t.ns;
  return { owners: fig, unattributedNs, totalNs };
}

/** Accounting samples of one window (seconds). Under `none` the charge/credit are measured, not applied. */
export function accountingSamples(s: Summary, applied: boolean): Sample[] {
  const out: Sample[] = [];
  const how = { enforced: applied ? 'yes' : 'no' };
  for (const [name, f] of s.owners) {
    for (const vec of ['NET_RX', 'NET_TX'] as const)
      out.push(sample(METRIC.attributedSoftirqS, f.attributedNs[vec] / 1e9, 's', { container: name, vec }));
    out.push(sample(METRIC.chargedTimeS, f.chargeNs / 1e9, 's', { container: name, ...how }));
    out.push(sample(METRIC.creditedTimeS, f.creditNs / 1e9, 's', { container: name, ...how }));
  }
  for (const vec of ['NET_RX', 'NET_TX'] as const)
    out.push(sample(METRIC.attributedSoftirqS, s.unattributedNs[vec] / 1e9, 's', { container: 'unattributed', vec }));
  return out;
}
