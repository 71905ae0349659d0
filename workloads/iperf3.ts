// iperf3 floods: the paper's network neighbours, UDP or TCP, the neighbour sending (`*-sender`, rate-limited by
// HTB on its interface) or receiving (`*-receiver`, the peer sends at the rate). The neighbour and its traffic
// peer are a client/server pair; the samples come from the kernel's counters (agents/docker/flood-samples.ts)
// and iperf3's JSON report (iperf3-output.ts). The simulated kernel models all four.
import {
  assertLinkLocal,
  floodRateGbps,
  wholeSeconds,
  type ContainerPlan,
  type PlanContext,
  type ScenarioParams,
  type Workload,
} from './workload.ts';

export const IPERF3_PORT = 5201;
export type FloodKind = 'udp-sender' | 'udp-receiver' | 'tcp-sender' | 'tcp-receiver';
const protocolOf = (kind: FloodKind) => (kind.startsWith('udp') ? 'udp' : 'tcp');
const directionOf = (kind: FloodKind) => (kind.endsWith('-sender') ? 'send' : 'receive');
/** As iperf3 uses them: one MTU-sized datagram for UDP, 128 KiB writes for TCP. */
const defaultBytes = (kind: FloodKind) => (protocolOf(kind) === 'udp' ? 1470 : 131072);

/** An iperf3 server. It stays up until teardown (not --one-off): its namespace's counters are read at the
 *  window's end, which must not race with the flood's end. */
export function iperf3ServerArgv(): string[] {
  return ['iperf3', '--server', '--port', String(IPERF3_PORT)];
}

export interface FloodPlan {
  /** Which side runs the iperf3 client (the sender): the neighbour for *-sender, the peer for *-receiver. */
  clientSide: 'neighbour' | 'peer';
  /** Rate limit enforced by an HTB qdisc on the sending neighbour's interface (senders only), bits/s. */
  htbRateBps: number | null;
}

export function floodPlan(kind: FloodKind, params: ScenarioParams): FloodPlan {
  const send = directionOf(kind) === 'send';
  const rate = params.rateGbps ? Math.round(params.rateGbps * 1e9) : null;
  // The paper rate-limits senders with HTB (the dequeue then runs in softirq); receivers' input rate is set
  // at the remote sender (iperf3 -b), which is outside the measured host in the paper's setup.
  return { clientSide: send ? 'neighbour' : 'peer', htbRateBps: send ? rate : null };
}

/** The iperf3 client of a flood: bounded in time (-t), JSON output (-J) for goodput, loss and retransmits. */
export function iperf3ClientArgv(kind: FloodKind, params: ScenarioParams, serverIp: string, timeS: number): string[] {
  const proto = protocolOf(kind);
  assertLinkLocal(serverIp);
  const plan = floodPlan(kind, params);
  const argv = ['iperf3', '--client', serverIp, '--port', String(IPERF3_PORT), '--json', '--time', String(wholeSeconds(timeS))];
  argv.push('--length', String(params.messageBytes ?? defaultBytes(kind)));
  argv.push('--parallel', String(params.flows ?? 1));
  // A sender limited by HTB offers as much as it can (-b 0) and the qdisc queues it, as in the paper; an
  // unlimited UDP sender needs -b 0 too (iperf3's UDP default is 1 Mbit/s). A receiver's rate is set here.
  const bitrate = plan.clientSide === 'peer' && params.rateGbps ? String(Math.round(params.rateGbps * 1e9)) : proto === 'udp' ? '0' : null;
  if (bitrate !== null) argv.push('--bitrate', bitrate);
  if (proto === 'udp') argv.push('--udp');
  return argv;
}

/** Neighbour i's flood: its share of the scenario's total rate, the client on the sending side. */
function floodContainers(kind: FloodKind, ctx: PlanContext, i: number): ContainerPlan[] {
  const params = { ...ctx.params, rateGbps: floodRateGbps(ctx.params, ctx.neighbours) };
  const flood = floodPlan(kind, params);
  // Interrupted at the window's end, which opens when every host has warmed up: bounded by the latest it can end.
  const floodS = Math.ceil(ctx.boundS);
  const server: Omit<ContainerPlan, 'name' | 'shape'> = {
    argv: iperf3ServerArgv(),
    program: 'iperf3-server',
    readyLine: 'Server listening',
  };
  const client = (ip: string): Omit<ContainerPlan, 'name' | 'shape'> => ({
    argv: iperf3ClientArgv(kind, params, ip, floodS),
    program: 'iperf3-client',
    stopAtWindowEnd: true,
  });
  const neighbourIsClient = flood.clientSide === 'neighbour';
  return [
    {
      name: `neighbour-${i}`,
      shape: 'neighbour',
      ...(neighbourIsClient ? { ...client(ctx.peerIp(i)), htbRateBps: flood.htbRateBps } : server),
    },
    { name: `peer-${i}`, shape: 'peer', ...(neighbourIsClient ? server : client(ctx.neighbourIp(i))) },
  ];
}

const flood = <K extends FloodKind>(kind: K, description: string) =>
  ({
    kind,
    description,
    packages: ['iperf3'] as const,
    neighbour: {
      plan: (ctx, i) => floodContainers(kind, ctx, i),
      network: { protocol: protocolOf(kind), direction: directionOf(kind), defaultMessageBytes: defaultBytes(kind) },
    },
    sim: 'modelled',
  }) satisfies Workload<K>;

export const iperf3Floods = [
  flood('udp-sender', 'iperf3 UDP flood sent by the neighbour (HTB at the rate)'),
  flood('udp-receiver', 'iperf3 UDP flood received by the neighbour (the peer sends at the rate)'),
  flood('tcp-sender', 'iperf3 TCP stream sent by the neighbour'),
  flood('tcp-receiver', 'iperf3 TCP stream received by the neighbour'),
] as const;
