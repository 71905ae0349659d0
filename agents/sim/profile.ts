// Host profiles: every cost and kernel constant the simulated host uses, with the unit in each key's name.
// Profiles are JSON files under agents/sim/profiles/; each carries a `_doc` map saying where every value
// comes from. The schema is strict so a typo in a profile is an error, not a silently ignored constant.
import { readFileSync, readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';

const ns = z.number().min(0);
const pos = z.number().positive();
const int = z.number().int().positive();

export const HostProfile = z
  .object({
    name: z.string().min(1),
    description: z.string(),
    cpuModel: z.string(),
    nicName: z.string(),
    nicDriver: z.string(),
    // Machine
    coreCount: int,
    linkGbps: pos,
    wireOverheadBytesPerFrame: ns,
    mtuBytes: int,
    tcpMssBytes: int,
    linkRttUs: pos,
    // Engine resolution: the longest fluid interval while a TCP peer's rate ramps (convergence-tested)
    simMaxAdvanceUs: pos,
    // Scheduler (CFS) and bandwidth control
    schedLatencyUs: pos,
    schedMinGranularityUs: pos,
    schedWakeupGranularityUs: pos,
    cfsSliceUs: pos,
    /** Containers' cgroups sit under a `docker` parent group (cgroupfs driver) that competes with ksoftirqd. */
    containersUnderDockerCgroup: z.boolean(),
    /** Timer interrupt rate (CONFIG_HZ): every tick's irq_exit runs pending softirqs on the interrupted task. */
    timerTickHz: pos,
    /** 4.9+ rule (commit 4cd13c21b207): while ksoftirqd is runnable, irq_exit leaves new softirqs to it. */
    softirqDeferToKsoftirqdWhilePending: z.boolean(),
    /** CONFIG_IRQ_TIME_ACCOUNTING: softirq time is excluded from the interrupted task's runtime and vruntime. */
    irqTimeAccounting: z.boolean(),
    // Interrupts, NAPI and softirq budgets
    irqModerationUs: pos,
    hardIrqNsPerInterrupt: ns,
    napiWeightPackets: int,
    netdevBudgetPackets: int,
    netdevBudgetUs: pos,
    softirqMaxTimeUs: pos,
    softirqMaxRestarts: int,
    rxRingPackets: int,
    // Per-packet costs: driver and completion
    driverRxNsPerPacket: ns,
    driverTxNsPerPacket: ns,
    txCompletionNsPerPacket: ns,
    // UDP
    udpTxSyscallNsPerPacket: ns,
    udpRxStackNsPerPacket: ns,
    udpRecvSyscallNsPerPacket: ns,
    udpSndbufBytes: int,
    udpRcvbufBytes: int,
    skbTruesizeBytes: int,
    // HTB
    htbDequeueNsPerPacket: ns,
    htbWatchdogNsPerWakeup: ns,
    htbTimerMinUs: pos,
    htbBurstUs: pos,
    qdiscQueuePackets: int,
    /**
     * veth hosts: the peer's receive path (veth_xmit -> netif_rx on the transmitting CPU, bridge, the peer's veth,
     * its IP/UDP/TCP receive) runs as NET_RX on the sender's own core, per datagram / per TCP byte sent. 0 with a
     * NIC (the peer is another host). Optional so profiles written before it still load.
     */
    vethPeerRxNsPerPacket: ns.optional(),
    vethPeerRxNsPerByte: ns.optional(),
    // TCP
    tcpRxGroNsPerPacket: ns,
    tcpRxStackNsPerSuperPacket: ns,
    tcpRxStackNsPerSegment: ns,
    /** Segments arriving while the reader owns the socket go to its backlog: TCP processing in the reader's context. */
    tcpBacklogInReaderContext: z.boolean(),
    tcpAckTxNsPerPacket: ns,
    tcpAckRxNsPerPacket: ns,
    tcpTxNsPerTsoSegment: ns,
    tcpTxCopyNsPerByte: ns,
    tcpRxCopyNsPerByte: ns,
    tcpSyscallNsPerCall: ns,
    tcpTsoMaxBytes: int,
    groMaxSegments: int,
    groFlowInterleavePenalty: ns,
    tcpAckEverySegments: int,
    tcpRmemMaxBytes: int,
    /** net.ipv4.tcp_adv_win_scale: the advertised window is rmem * (1 - 2^-scale). */
    tcpAdvWinScale: z.number().int().min(1).max(4),
    tcpWmemMaxBytes: int,
    tcpInitialCwndSegments: int,
    tcpCubicBeta: z.number().gt(0).lt(1),
    // Peers across the link
    peerUdpMaxPacketsPerSecond: pos,
    // Workloads
    sysbenchEventsPerCpuSecond: pos,
    // Enforcement overheads and the eBPF controller
    ironAccountingNsPerPacket: ns,
    ebpfAccountingNsPerPacket: ns,
    ebpfDropNsPerPacket: ns,
    ebpfControllerIntervalUs: pos,
    ebpfMinQuotaUs: pos,
    ebpfPollDelayUs: pos,
    // Jitter that makes repetitions differ
    arrivalJitterFraction: z.number().min(0).max(0.5),
    /** How long one burst (one draw of the arrival and cost jitter) lasts. */
    arrivalJitterIntervalUs: pos,
    costJitterFraction: z.number().min(0).max(0.5),
    cpuSpeedJitterFraction: z.number().min(0).max(0.1),
    _doc: z.record(z.string(), z.string()),
    /** Which kind of value each key is (see VALUE_KINDS). */
    _kind: z.record(z.string(), z.enum(['kernel', 'published', 'measured', 'estimate', 'engine', 'design', 'descriptive'])),
    /** Where and when the `measured` values were measured (`ironlab calibrate`); absent in hand-written profiles. */
    _measured: z
      .object({
        host: z.string(),
        kernel: z.string(),
        date: z.string(),
        command: z.string(),
        basedOn: z.string(),
        load: z.string().optional(),
      })
      .strict()
      .optional(),
  })
  .strict();
export type HostProfile = z.infer<typeof HostProfile>;

/**
 * What each `_kind` means. kernel: a kernel/driver constant or default (cited in `_doc`); published: a figure
 * from a cited publication; measured: measured on a named host (the profile says which); estimate: a physical
 * estimate not yet measured or published (to be replaced by a measurement); engine: a resolution of the
 * simulator, not a property of the host; design: a setting of ironlab's own software; descriptive: a name or label with no effect on the model.
 */
export const VALUE_KINDS = ['kernel', 'published', 'measured', 'estimate', 'engine', 'design', 'descriptive'] as const;

const PROFILE_DIR = join(dirname(fileURLToPath(import.meta.url)), 'profiles');
const cache = new Map<string, HostProfile>();

export function listProfiles(): string[] {
  return readdirSync(PROFILE_DIR)
    .filter((f) => f.endsWith('.json'))
    .map((f) => f.slice(0, -'.json'.length))
    .sort();
}

/** A profile given as a file (`ironlab run --sim-profile host.json`) rather than a built-in name. */
export function isProfilePath(nameOrPath: string): boolean {
  return nameOrPath.includes('/') || nameOrPath.endsWith('.json');
}

/**
 * Load and validate a profile by built-in name or by file path (anything with a `/` or ending in .json);
 * throws an Error naming the profile (or file) and the bad key.
 */
export function loadProfile(name: string): HostProfile {
  const hit = cache.get(name);
  if (hit) return hit;
  let raw: unknown;
  if (isProfilePath(name)) {
    try {
      raw = JSON.parse(readFileSync(name, 'utf8'));
    } catch (err) {
      throw new Error(`host profile file ${name}: ${(err as Error).message}`, { cause: err });
    }
  } else {
    if (!/^[a-z0-9][a-z0-9-]*$/.test(name) || !listProfiles().includes(name)) {
      throw new Error(`unknown host profile '${name}' (known: ${listProfiles().join(', ')})`);
    }
    raw = JSON.parse(readFileSync(join(PROFILE_DIR, `${name}.json`), 'utf8'));
  }
  const parsed = HostProfile.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new Error(`host profile '${name}': ${issue?.path.join('.') ?? ''}: ${issue?.message ?? 'invalid'}`);
  }
  const keys = Object.keys(parsed.data).filter((k) => !k.startsWith('_'));
  const undocumented = keys.filter((k) => !(k in parsed.data._doc));
  if (undocumented.length > 0) throw new Error(`host profile '${name}': undocumented keys: ${undocumented.join(', ')}`);
  const unkinded = keys.filter((k) => !(k in parsed.data._kind));
  if (unkinded.length > 0) throw new Error(`host profile '${name}': _kind missing for: ${unkinded.join(', ')}`);
  if (!isProfilePath(name)) cache.set(name, parsed.data); // a file may be rewritten (calibrate), a built-in not
  return parsed.data;
}
