// Catalog kinds -> the exact argv each container runs. This is the only place that turns a scenario into
// program arguments: every value is a number or an address the agent chose, never text from the wire.
import { defaultMessageBytes, directionOf, protocolOf, type ScenarioParams, type WorkloadKind } from './catalog.ts';

export const IPERF3_PORT = 5201;

/** sysbench cpu, one thread, reporting every second so the measurement window can be cut out of its output. */
export function sysbenchArgv(timeS: number): string[] {
  return ['sysbench', 'cpu', '--threads=1', `--time=${Math.max(1, Math.ceil(timeS))}`, '--report-interval=1', 'run'];
}

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

export function floodPlan(kind: WorkloadKind, params: ScenarioParams): FloodPlan {
  const dir = directionOf(kind);
  if (dir === null) throw new Error(`${kind} is not a network workload`);
  const rate = params.rateGbps ? Math.round(params.rateGbps * 1e9) : null;
  // The paper rate-limits senders with HTB (the dequeue then runs in softirq); receivers' input rate is set
  // at the remote sender (iperf3 -b), which is outside the measured host in the paper's setup.
  return { clientSide: dir === 'send' ? 'neighbour' : 'peer', htbRateBps: dir === 'send' ? rate : null };
}

/** The iperf3 client of a flood: bounded in time (-t), JSON output (-J) for goodput, loss and retransmits. */
export function iperf3ClientArgv(kind: WorkloadKind, params: ScenarioParams, serverIp: string, timeS: number): string[] {
  const proto = protocolOf(kind);
  if (!proto) throw new Error(`${kind} is not a network workload`);
  if (!/^169\.254\.\d{1,3}\.\d{1,3}$/.test(serverIp)) throw new Error(`refusing a non-link-local server address ${serverIp}`);
  const plan = floodPlan(kind, params);
  const argv = ['iperf3', '--client', serverIp, '--port', String(IPERF3_PORT), '--json', '--time', String(Math.max(1, Math.ceil(timeS)))];
  argv.push('--length', String(params.messageBytes ?? defaultMessageBytes(kind)));
  argv.push('--parallel', String(params.flows ?? 1));
  // A sender limited by HTB offers as much as it can (-b 0) and the qdisc queues it, as in the paper; an
  // unlimited UDP sender needs -b 0 too (iperf3's UDP default is 1 Mbit/s). A receiver's rate is set here.
  const bitrate = plan.clientSide === 'peer' && params.rateGbps ? String(Math.round(params.rateGbps * 1e9)) : proto === 'udp' ? '0' : null;
  if (bitrate !== null) argv.push('--bitrate', bitrate);
  if (proto === 'udp') argv.push('--udp');
  return argv;
}
