// The kernel rules of the simulated host, each on a small case: the restart limit of one __do_softirq call,
// the jiffy deadline and need_resched ending a call early (the rest goes to ksoftirqd), CFS vruntime memory
// (an episode is repaid), bursty window-limited TCP arrivals, the GRO super-packet stack cost a + b x segments,
// CONFIG_IRQ_TIME_ACCOUNTING, and a scenario's rateGbps as the neighbours' total.
import { describe, expect, it } from 'vitest';
import { CAT_KSOFTIRQD, CAT_NEIGHBOURS, CAT_SOFTIRQ_TASK, CAT_VICTIM, HostKernel, N_CATS } from '../../agents/sim/host-kernel.ts';
import { paperRunSpec, type PaperRunOptions } from '../../agents/sim/paper-defaults.ts';
import { loadProfile, type HostProfile } from '../../agents/sim/profile.ts';
import { superPacketStackNs } from '../../agents/sim/tcp.ts';
import { Traffic } from '../../agents/sim/traffic.ts';
import { VanillaAccounting } from '../../agents/sim/accounting.ts';

const paper = loadProfile('paper');

function kernel(o: PaperRunOptions, prof: Partial<HostProfile> = {}): HostKernel {
  return new HostKernel(paperRunSpec(o), { ...paper, ...prof });
}

/** Core-0 time per category over [warm, warm + window] seconds. */
function coreShares(k: HostKernel, warmS: number, windowS: number): Float64Array {
  k.run(warmS * 1e9);
  const a = k.snapshot().coreCatNs;
  k.run(windowS * 1e9);
  const b = k.snapshot().coreCatNs;
  const out = new Float64Array(N_CATS);
  for (let i = 0; i < N_CATS; i++) out[i] = (b[i] - a[i]) / (windowS * 1e9);
  return out;
}

describe('restart limit of one __do_softirq call', () => {
  it('one RX NAPI: 10 rounds x 64 packets, not 10 x netdev_budget', () => {
    const k = kernel({ workload: 'udp-receiver', params: { rateGbps: 8 } });
    expect(k.roundPackets(0)).toBe(64);
    expect(k.callPacketLimit(0)).toBe(640);
  });
  it('netdev_budget binds only when it is below 64 x the active NAPIs', () => {
    expect(kernel({ workload: 'udp-receiver', params: { rateGbps: 8 } }, { netdevBudgetPackets: 50 }).callPacketLimit(0)).toBe(500);
    expect(kernel({ workload: 'udp-receiver', params: { rateGbps: 8 } }, { softirqMaxRestarts: 3 }).callPacketLimit(0)).toBe(192);
  });
  it('a core without a receive queue polls nothing', () => {
    expect(kernel({ workload: 'udp-receiver', params: { rateGbps: 8 } }).roundPackets(1)).toBe(64); // budget of an idle NAPI list
    expect(kernel({ workload: 'sysbench' }).packetsPerInterrupt(0)).toBe(0);
  });
});

describe('jiffy deadline in interrupt mode', () => {
  // A window-limited TCP receiver at 9 Gbit/s: line-rate bursts put more than one poll's worth in each
  // interrupt, so some calls need a second round; a tick inside a round that has a successor ends the call.
  it('at HZ=250 (MAX_SOFTIRQ_TIME is one jiffy) ticks send calls to ksoftirqd; at HZ=1000 (two jiffies) none do', () => {
    const k250 = kernel({ workload: 'tcp-receiver', params: { rateGbps: 9 }, neighbours: 1, seed: 3 });
    // During a burst an interrupt finds more than one poll's worth (the window is closed in between).
    let nonFinal = 0;
    for (let i = 0; i < 200; i++) {
      k250.run(1e7);
      nonFinal = Math.max(nonFinal, k250.nonFinalFraction(0));
    }
    expect(nonFinal).toBeGreaterThan(0);
    expect(k250.pollEntries.jiffy).toBeGreaterThan(10);
    const k1000 = kernel({ workload: 'tcp-receiver', params: { rateGbps: 9 }, neighbours: 1, seed: 3 }, { timerTickHz: 1000 });
    k1000.run(2e9);
    expect(k1000.pollEntries.jiffy).toBe(0);
  });
  it('below one poll per interrupt no call has a second round, so no tick ends one', () => {
    const k = kernel({ workload: 'udp-receiver', params: { rateGbps: 2 }, seed: 3 });
    k.run(1e9);
    expect(k.packetsPerInterrupt(0)).toBeLessThan(64);
    expect(k.nonFinalFraction(0)).toBe(0);
    expect(k.pollEntries.jiffy).toBe(0);
  });
});

describe('need_resched: waking a blocked reader ends the call after its first round', () => {
  // 1 Gbit/s of UDP with one interrupt per ms: ~85 packets per interrupt, 64 in the first round. The reader
  // keeps up, so it sleeps between datagrams and each call wakes it.
  const slowIrq = { irqModerationUs: 1000 };
  it('reader on the NIC core: about (85 - 64) / 85 of the receive work runs in ksoftirqd', () => {
    const k = kernel({ workload: 'udp-receiver', params: { rateGbps: 1 }, neighbours: 1, seed: 5 }, slowIrq);
    const s = coreShares(k, 0.5, 1);
    expect(k.packetsPerInterrupt(0)).toBeGreaterThan(64);
    const ppp = (1e9 / 8 / k.traffic[1]!.payloadBytes) * 1000e-6; // nominal: 1 Gbit/s of datagrams, 1 ms apart
    const expected = (ppp - 64) / ppp; // the rest of the softirq is the hard IRQs, a few %
    const inKsoftirqd = s[CAT_KSOFTIRQD] / (s[CAT_KSOFTIRQD] + s[CAT_SOFTIRQ_TASK]);
    expect(inKsoftirqd).toBeGreaterThan(expected * 0.8);
    expect(inKsoftirqd).toBeLessThan(expected * 1.1);
  });
  it('reader on another core: nothing on this core to reschedule, every call runs to the end', () => {
    const spec = { ...paperRunSpec({ workload: 'udp-receiver', params: { rateGbps: 1 }, neighbours: 1, seed: 5 }) };
    spec.neighbour = { ...spec.neighbour, cpus: [1] };
    const k = new HostKernel(spec, { ...paper, ...slowIrq });
    const s = coreShares(k, 0.5, 1);
    expect(s[CAT_KSOFTIRQD]).toBe(0);
    expect(s[CAT_SOFTIRQ_TASK]).toBeGreaterThan(0.05);
  });
});

describe('CFS vruntime memory', () => {
  // A flooded UDP receiver keeps NAPI polling: ticks run __do_softirq episodes on whoever they interrupt, and
  // those episodes advance that entity's vruntime (and its parents'). One victim, one neighbour, quotas lifted
  // so that only CFS decides. A container's slice in the group is 3 ms, shorter than a tick at HZ=250: every
  // tick sets need_resched and its episode runs one round.
  function flooded(prof: Partial<HostProfile> = {}) {
    const spec = paperRunSpec({ workload: 'udp-receiver', params: { rateGbps: 8 }, neighbours: 1, seed: 9 });
    spec.victim = { ...spec.victim, quotaUs: 100000 };
    spec.neighbour = { ...spec.neighbour, quotaUs: 100000 };
    const k = new HostKernel(spec, { ...paper, ...prof });
    k.run(0.5e9);
    const a = { cat: k.snapshot().coreCatNs, ep: Float64Array.from(k.episodeNs) };
    k.run(2e9);
    const b = { cat: k.snapshot().coreCatNs, ep: Float64Array.from(k.episodeNs) };
    const d = (i: number) => (b.cat[i] - a.cat[i]) / 2e9;
    const victimEpisodes = (b.ep[0] - a.ep[0]) / 2e9;
    const episodes = victimEpisodes + (b.ep[1] - a.ep[1]) / 2e9;
    // The flooded receiver on the NIC core spends its time in do_softirq at local_bh_enable (before 4.9).
    const receiver = d(CAT_NEIGHBOURS) + d(CAT_SOFTIRQ_TASK) - episodes;
    return { k, victim: d(CAT_VICTIM), receiver, ksoftirqd: d(CAT_KSOFTIRQD), victimEpisodes, episodes };
  }
  it('the victim repays the episodes that ran on its time, and the docker group repays ksoftirqd', () => {
    const r = flooded();
    expect(r.k.pollEntries.overload).toBeGreaterThan(0);
    expect(r.victimEpisodes).toBeGreaterThan(0.004);
    // Inside the docker group: victim's own time + its episodes = the receiver's time.
    expect(r.victim + r.victimEpisodes).toBeCloseTo(r.receiver, 3);
    expect(r.victim).toBeLessThan(r.receiver - 0.004);
    // At the top: ksoftirqd = the whole docker group, episodes included.
    expect(r.ksoftirqd).toBeCloseTo(r.victim + r.receiver + r.episodes, 2);
  });
  it('in a flat hierarchy (containers beside ksoftirqd at the top) the victim repays its episodes too', () => {
    const r = flooded({ containersUnderDockerCgroup: false });
    expect(r.victimEpisodes).toBeGreaterThan(0.004);
    // Three equal entities: ksoftirqd, the receiver, and the victim whose third includes its episodes.
    expect(r.victim + r.victimEpisodes).toBeCloseTo(r.receiver, 3);
    expect(r.ksoftirqd).toBeCloseTo(r.receiver, 3);
    expect(r.victim).toBeLessThan(r.receiver - 0.004);
  });
  it('with CONFIG_IRQ_TIME_ACCOUNTING the episodes are not task time and are not repaid', () => {
    const r = flooded({ irqTimeAccounting: true });
    expect(r.episodes).toBeGreaterThan(0.004);
    expect(r.victim).toBeCloseTo(r.receiver, 3);
    expect(r.ksoftirqd).toBeCloseTo(r.victim + r.receiver, 2);
  });
});

describe('ksoftirqd is a CFS task: turns with the docker group, wakeup preemption, slices per level', () => {
  // kernel/sched/fair.c: check_preempt_tick (a turn ends at a tick once it exceeds sched_slice), place_entity
  // (a sleeper is placed sched_latency/2 behind min_vruntime), check_preempt_wakeup (a woken entity preempts
  // only if more than wakeup_granularity behind), sched_slice (latency / n at each level, times the parent's share).
  it('while NAPI polls, ksoftirqd and the docker group alternate in turns of sched_slice rounded up to a tick', () => {
    const k = kernel({ workload: 'udp-receiver', params: { rateGbps: 8 }, seed: 9 });
    const s = coreShares(k, 0.5, 2);
    // 12 ms scaled latency / 2 entities = 6 ms; a turn ends at the first tick after that: 8 ms at HZ=250.
    expect(k.turnSwitches.tick / 2.5).toBeGreaterThan(0.85 * (1000 / 8));
    expect(k.turnSwitches.tick / 2.5).toBeLessThan(1.05 * (1000 / 8));
    // Fair over the window: ksoftirqd gets what the docker group got (its tasks, their softirq, the episodes).
    expect(s[CAT_KSOFTIRQD]).toBeCloseTo(s[CAT_VICTIM] + s[CAT_NEIGHBOURS] + s[CAT_SOFTIRQ_TASK], 2);
  });
  it('a ksoftirqd woken after a sleep preempts at once; with a wakeup granularity above sched_latency/2 it waits for a tick', () => {
    const woken = kernel({ workload: 'tcp-receiver', params: { rateGbps: 9 }, seed: 9 });
    woken.run(2e9);
    expect(woken.pollEntries.jiffy).toBeGreaterThan(100);
    // Every wakeup but those before ksoftirqd had slept long enough (the first milliseconds) preempts.
    expect(woken.turnSwitches.wakeup).toBeGreaterThan(0.95 * (woken.pollEntries.jiffy + woken.pollEntries.overload));
    const late = kernel({ workload: 'tcp-receiver', params: { rateGbps: 9 }, seed: 9 }, { schedWakeupGranularityUs: 4000 });
    late.run(2e9);
    expect(late.pollEntries.jiffy).toBeGreaterThan(100);
    expect(late.turnSwitches.wakeup).toBe(0);
  });
  it("with three runnable containers in the group a container's slice (2 ms) is shorter than a tick: every tick sets need_resched", () => {
    // Paper set-up: victim + two flooded receivers on core 0; tick episodes run one round unless fewer than two
    // containers are runnable (the victim throttled and a receiver asleep).
    const k = kernel({ workload: 'udp-receiver', params: { rateGbps: 8 }, seed: 9 });
    k.run(2e9);
    expect(k.tickEpisodes.oneRound).toBeGreaterThan(2 * k.tickEpisodes.full);
    // One container in the group: slices only at the top (6 ms, two ticks), so about half the ticks run full episodes.
    const alone = new HostKernel(
      {
        ...paperRunSpec({ workload: 'udp-receiver', params: { rateGbps: 8 }, neighbours: 1, seed: 9 }),
        victim: { quotaUs: 1000, periodUs: 100000, cpus: [0] },
      },
      paper,
    );
    alone.run(2e9);
    expect(alone.tickEpisodes.full).toBeGreaterThan(alone.tickEpisodes.oneRound * 0.5);
  });
});

describe('bursty window-limited TCP arrivals: zero window, window update, line-rate burst', () => {
  function receiver(): Traffic {
    const policy = new VanillaAccounting([], []);
    return new Traffic(
      { kind: 'tcp-receiver', owner: 1, appCore: 0, nicCore: 0, rateGbps: 9, flows: 1, messageBytes: 131072 },
      paper,
      policy,
    );
  }
  const rwnd = paper.tcpRmemMaxBytes / 2 / paper.tcpMssBytes; // tcp_adv_win_scale 1: half of rmem
  it('a full window is closed: the peer is silent until a read frees allowed_space / 16 (__tcp_select_window)', () => {
    const t = receiver();
    expect(t.reopenSegments).toBeCloseTo(rwnd / 16, 6);
    t.tcpRatePpns = t.linePpns;
    t.peerDeficit = 100; // iperf3 is behind its target: it writes at the line rate
    t.socket = rwnd;
    t.update(0.05, Infinity);
    expect(t.windowClosed).toBe(true);
    expect(t.rIn).toBe(0);
    // The reader has freed less than 1/16 of the window: __tcp_select_window still returns 0.
    t.socket = rwnd - t.reopenSegments + 1;
    t.update(0.05, Infinity);
    expect(t.windowClosed).toBe(true);
    expect(t.rIn).toBe(0);
    // One more segment read: tcp_cleanup_rbuf sends the window update and the peer sends it at the line rate,
    // not at the reader's pace (the reader's share here, 0.05 of a core, reads far less than the line).
    t.socket = rwnd - t.reopenSegments - 1;
    t.update(0.05, Infinity);
    expect(t.windowClosed).toBe(false);
    expect(t.windowBurst).toBe(true);
    expect(t.rIn).toBeCloseTo(t.linePpns, 12);
    expect(t.burstPpns()).toBe(t.rIn);
    expect(t.rApp).toBeLessThan(t.linePpns * 0.5);
    // The burst goes on while the window has room, and ends when it is full again.
    t.socket = rwnd - 5;
    t.update(0.05, Infinity);
    expect(t.windowClosed).toBe(false);
    t.socket = rwnd;
    t.update(0.05, Infinity);
    expect(t.windowClosed).toBe(true);
  });
  it('a peer below its window sends a smooth stream', () => {
    const t = receiver();
    t.tcpRatePpns = t.peerCapPpns / 2;
    t.update(0.5, Infinity);
    expect(t.windowLimited).toBe(false);
    expect(t.burstPpns()).toBe(t.rIn);
  });
  it('while the window is closed the queued segments keep the GRO batches of the burst they came in', () => {
    const t = receiver();
    t.tcpRatePpns = t.linePpns;
    t.update(0.05, Infinity);
    const burst = t.rIn;
    t.advance(1000);
    t.socket = rwnd;
    t.update(0.05, Infinity);
    expect(t.rIn).toBe(0);
    expect(t.groPpns()).toBe(burst);
  });
  it('in the kernel: the window closes and reopens, the ring takes the bursts, and a peer alone on the link gets all of it', () => {
    const k = kernel({ workload: 'tcp-receiver', params: { rateGbps: 9 }, seed: 5 });
    k.run(0.5e9);
    let closed = 0;
    let bursts = 0;
    let fullLink = 0;
    let ringSeen = 0;
    const t = k.traffic[1]!;
    const start = k.snapshot().containers[1].goodputBytes;
    for (let i = 0; i < 1000; i++) {
      k.run(0.5e6);
      if (t.windowClosed) closed++;
      if (t.windowBurst) bursts++;
      if (t.rIn > (t.linkPpns / 2) * 1.01) fullLink++;
      if (t.ring > 0) ringSeen++;
    }
    expect(closed).toBeGreaterThan(50);
    expect(bursts).toBeGreaterThan(50);
    expect(fullLink).toBeGreaterThan(10);
    expect(ringSeen).toBeGreaterThan(0);
    // The readers' backlog work stays per super-packet while no segment arrives: the neighbour still reads
    // several Gbit/s (with a batch of one per closed window it fell to ~1.7).
    const gbps = ((k.snapshot().containers[1].goodputBytes - start) * 8) / 0.5;
    expect(gbps / 1e9).toBeGreaterThan(3);
  });
});

describe('GRO super-packet stack cost a + b x segments', () => {
  it('a batch of one costs about one datagram stack walk, a full super-packet the 64 KB figure', () => {
    expect(superPacketStackNs(paper, 1)).toBeCloseTo(paper.tcpRxStackNsPerSuperPacket + paper.tcpRxStackNsPerSegment, 6);
    expect(superPacketStackNs(paper, 1)).toBeLessThan(paper.udpRxStackNsPerPacket * 1.1);
    expect(superPacketStackNs(paper, paper.groMaxSegments)).toBeGreaterThan(2500);
  });
  it('a segment costs less in a large batch, and a lone segment stays within the 1-3 us per packet of the literature', () => {
    const t = new Traffic(
      { kind: 'tcp-receiver', owner: 1, appCore: 0, nicCore: 0, rateGbps: 9, flows: 1, messageBytes: 131072 },
      paper,
      new VanillaAccounting([], []),
    );
    t.tcpRatePpns = 1e-9; // one segment a second: each interrupt finds one
    t.update(0.5, Infinity);
    const lone = t.ringCostNs;
    t.tcpRatePpns = t.peerCapPpns; // 9 Gbit/s: one interrupt finds dozens
    t.update(0.5, Infinity);
    const batched = t.ringCostNs;
    expect(batched).toBeLessThan(lone);
    expect(lone).toBeLessThan(3000);
  });
});

describe("TCP socket backlog: processing in the reader's context", () => {
  function costs(socket: number, tcpBacklogInReaderContext: boolean) {
    const t = new Traffic(
      { kind: 'tcp-receiver', owner: 1, appCore: 0, nicCore: 0, rateGbps: 9, flows: 1, messageBytes: 131072 },
      { ...paper, tcpBacklogInReaderContext },
      new VanillaAccounting([], []),
    );
    t.tcpRatePpns = t.peerCapPpns;
    t.socket = socket;
    t.update(0.3, Infinity);
    return { softirq: t.ringCostNs, reader: t.appUse(0.3) / t.rApp };
  }
  it('a reader with data queued owns the socket: tcp_rcv_established and the ACK move from softirq to it, nothing is lost', () => {
    const owned = costs(100, true);
    const inSoftirq = costs(100, false);
    expect(owned.softirq).toBeLessThan(inSoftirq.softirq);
    expect(owned.reader).toBeGreaterThan(inSoftirq.reader);
    expect(owned.softirq + owned.reader).toBeCloseTo(inSoftirq.softirq + inSoftirq.reader, 6);
  });
  it('a reader blocked in select() does not own the socket: everything runs in softirq', () => {
    expect(costs(0, true).softirq).toBeCloseTo(costs(0, false).softirq, 9);
  });
});

describe('CONFIG_IRQ_TIME_ACCOUNTING', () => {
  it('softirq at irq exit is not charged to the interrupted cgroup: the victim is no longer throttled by it', () => {
    const run = (irqTimeAccounting: boolean) => {
      // A victim quota of 30%: below its fair share (about 0.2 of the core for itself plus the softirq landing on it).
      const spec = paperRunSpec({ workload: 'udp-receiver', params: { rateGbps: 4 }, neighbours: 1, seed: 2 });
      spec.victim = { ...spec.victim, quotaUs: 30000 };
      const k = new HostKernel(spec, { ...paper, irqTimeAccounting });
      k.run(0.5e9);
      const a = k.snapshot();
      k.run(2e9);
      const b = k.snapshot();
      const v = (s: typeof a) => s.containers[0];
      return {
        usage: v(b).usageNs - v(a).usageNs,
        task: b.coreCatNs[CAT_VICTIM] - a.coreCatNs[CAT_VICTIM],
        throttled: v(b).nrThrottled - v(a).nrThrottled,
      };
    };
    const off = run(false);
    const on = run(true);
    expect(off.usage).toBeGreaterThan(off.task * 1.2); // softirq counted as the victim's runtime
    expect(Math.abs(on.usage - on.task) / on.task).toBeLessThan(0.01); // only its own time
    expect(off.throttled).toBeGreaterThan(0);
    expect(on.throttled).toBe(0);
    expect(on.task).toBeGreaterThan(off.task * 1.1);
  });
});

describe("rateGbps is the neighbours' total offered rate", () => {
  it('two receivers at 4 Gbit/s total are each offered about 2 Gbit/s', () => {
    const k = kernel({ workload: 'udp-receiver', params: { rateGbps: 4 }, neighbours: 2, seed: 4 });
    k.run(0.5e9);
    const a = k.snapshot();
    k.run(1e9);
    const b = k.snapshot();
    const bytes = k.traffic[1]!.payloadBytes;
    const gbps = [1, 2].map((i) => ((b.containers[i].offered - a.containers[i].offered) * bytes * 8) / 1e9);
    for (const g of gbps) expect(g).toBeCloseTo(2, 1);
  });
});

describe("veth: the peer's receive path runs on the sender's core", () => {
  // veth_xmit -> netif_rx raises NET_RX on the transmitting CPU, so each datagram an HTB-limited sender's watchdog
  // dequeues in NET_TX softirq also runs the peer's receive path there: softirq on the core grows by rate x cost.
  it('an HTB-limited UDP sender: softirq on its core grows by datagrams/s x vethPeerRxNsPerPacket', () => {
    const o = { workload: 'udp-sender' as const, params: { rateGbps: 1 } };
    const nic = coreShares(kernel(o), 0.5, 2);
    const veth = coreShares(kernel(o, { vethPeerRxNsPerPacket: 2000 }), 0.5, 2);
    const datagramsPerNs = 1 / 8 / (paper.mtuBytes - 28);
    const softirq = (s: Float64Array) => s[CAT_SOFTIRQ_TASK] + s[CAT_KSOFTIRQD];
    expect(softirq(veth) - softirq(nic)).toBeCloseTo(datagramsPerNs * 2000, 2);
    expect(veth[CAT_VICTIM]).toBeLessThan(nic[CAT_VICTIM]);
  });
  it('a TCP sender pays it per byte (in its own context or in the softirq that transmitted): CPU-bound, it sends less', () => {
    const o = { workload: 'tcp-sender' as const, params: { flows: 2 } };
    const gbps = (k: HostKernel) => {
      k.run(0.5e9);
      const a = k.snapshot().containers[1]!.goodputBytes;
      k.run(2e9);
      return ((k.snapshot().containers[1]!.goodputBytes - a) * 8) / 2e9;
    };
    const nic = gbps(kernel(o));
    const veth = gbps(kernel(o, { vethPeerRxNsPerByte: 0.5 }));
    expect(veth).toBeLessThan(nic * 0.8);
  });
});
