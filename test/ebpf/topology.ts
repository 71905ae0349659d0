// Two network namespaces joined by one veth pair on link-local addresses: the smallest real receive path for
// the eBPF tests and the bench. Everything is named ironlab-test-* and removed by destroy(), also after a
// crash of an earlier run (create() first removes leftovers). Floods are always bounded (iperf3 -t).
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, rmdirSync, writeFileSync } from 'node:fs';

export const NS_A = 'ironlab-test-a';
export const NS_B = 'ironlab-test-b';
export const DEV_A = 'ironlab-ta';
export const DEV_B = 'ironlab-tb';
export const IP_A = '169.254.213.1';
export const IP_B = '169.254.213.2';
export const nsPath = (ns: string) => `/var/run/netns/${ns}`;

function sh(cmd: string, args: string[]): string {
  return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}
const quiet = (cmd: string, args: string[]) => {
  try {
    sh(cmd, args);
  } catch {
    /* already gone */
  }
};

export function createTopology(): void {
  destroyTopology();
  sh('ip', ['netns', 'add', NS_A]);
  sh('ip', ['netns', 'add', NS_B]);
  sh('ip', ['link', 'add', DEV_A, 'netns', NS_A, 'type', 'veth', 'peer', 'name', DEV_B, 'netns', NS_B]);
  for (const [ns, dev, ip] of [
    [NS_A, DEV_A, IP_A],
    [NS_B, DEV_B, IP_B],
  ] as const) {
    sh('ip', ['-n', ns, 'addr', 'add', `${ip}/24`, 'dev', dev]);
    sh('ip', ['-n', ns, 'link', 'set', dev, 'up']);
    sh('ip', ['-n', ns, 'link', 'set', 'lo', 'up']);
  }
}

export function destroyTopology(): void {
  // Deleting a namespace deletes the veth pair (and any tc filter on it) with it.
  quiet('ip', ['netns', 'del', NS_A]);
  quiet('ip', ['netns', 'del', NS_B]);
}

export function topologyLeftovers(): string[] {
  const ns = sh('ip', ['netns', 'list'])
    .split('\n')
    .filter((l) => l.startsWith('ironlab-test-'));
  return ns;
}

/** Run argv inside a namespace. nsenter (not `ip netns exec`) keeps the host's /sys and its bpffs. */
export function inNs(ns: string, argv: string[]): string[] {
  return ['nsenter', `--net=${nsPath(ns)}`, '--', ...argv];
}

export function spawnIn(ns: string, argv: string[]): ChildProcess {
  const [cmd, ...args] = inNs(ns, argv);
  return spawn(cmd!, args, { stdio: ['ignore', 'pipe', 'pipe'] });
}

export function collect(child: ChildProcess): Promise<{ code: number | null; out: string; err: string }> {
  let out = '';
  let err = '';
  child.stdout?.on('data', (d) => (out += d));
  child.stderr?.on('data', (d) => (err += d));
  return new Promise((res) => child.on('close', (code) => res({ code, out, err })));
}

/** iperf3 TCP A -> B for `seconds` (bounded); returns Gbit/s received. `pidHook` sees the client pid. */
export async function tcpFlood(
  seconds: number,
  pidHook?: (clientPid: number, serverPid: number) => void,
  cpus: [number, number] = [0, 1],
): Promise<number> {
  // Client pinned to cpus[0], server to cpus[1]: with steer() each side's softirq work stays on its own CPU.
  const server = spawnIn(NS_B, ['taskset', '-c', String(cpus[1]), 'iperf3', '-s', '-1', '-B', IP_B, '-p', '5213']);
  const sDone = collect(server);
  await waitPort();
  const client = spawnIn(NS_A, ['taskset', '-c', String(cpus[0]), 'iperf3', '-c', IP_B, '-p', '5213', '-t', String(seconds), '-J']);
  pidHook?.(client.pid!, server.pid!);
  const c = await collect(client);
  await sDone;
  if (c.code !== 0) throw new Error(`iperf3 client failed: ${c.err || c.out}`);
  const j = JSON.parse(c.out);
  return j.end.sum_received.bits_per_second / 1e9;
}

async function waitPort(): Promise<void> {
  for (let i = 0; i < 50; i++) {
    const ss = sh('nsenter', [`--net=${nsPath(NS_B)}`, '--', 'ss', '-ltnH']);
    if (ss.includes(':5213')) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error('iperf3 server did not listen');
}

// A bounded UDP receiver and sender as tiny Node scripts: unlike iperf3 they need no TCP control connection,
// which the drop filter would cut as well.
const UDP_RECV = `const s=require('dgram').createSocket('udp4');let n=0;s.on('message',()=>n++);
s.bind(5214,process.argv[1],()=>console.log('ready'));setTimeout(()=>{console.log('count',n);process.exit(0)},Number(process.argv[2]));`;
const UDP_SEND = `const s=require('dgram').createSocket('udp4');const [ip,c]=[process.argv[1],Number(process.argv[2])];let i=0;
(function f(){if(i++>=c){s.close();return}s.send(Buffer.alloc(64),5214,ip,()=>setTimeout(f,2))})();`;

/** Send `count` UDP datagrams A -> B (about 2 ms apart) and return how many B received. Bounded in time. */
export async function udpBurst(count: number): Promise<number> {
  const recv = spawnIn(NS_B, [process.execPath, '-e', UDP_RECV, IP_B, String(count * 3 + 1500)]);
  const done = collect(recv);
  await new Promise<void>((res) => recv.stdout!.on('data', (d) => String(d).includes('ready') && res()));
  const send = spawnIn(NS_A, [process.execPath, '-e', UDP_SEND, IP_B, String(count)]);
  await collect(send);
  const out = (await done).out;
  return Number(/count (\d+)/.exec(out)?.[1] ?? NaN);
}

/** A cgroup in both v1 cpu and cpuacct hierarchies, named ironlab-test-*. */
export function makeCgroup(name: string): { cpu: string; cpuacct: string; add(pid: number): void; remove(): void } {
  const cpu = `/sys/fs/cgroup/cpu/${name}`;
  const cpuacct = `/sys/fs/cgroup/cpuacct/${name}`;
  mkdirSync(cpu, { recursive: true });
  mkdirSync(cpuacct, { recursive: true });
  return {
    cpu,
    cpuacct,
    add(pid: number) {
      writeFileSync(`${cpu}/cgroup.procs`, String(pid));
      writeFileSync(`${cpuacct}/cgroup.procs`, String(pid));
    },
    remove() {
      for (const d of [cpu, cpuacct]) {
        for (let i = 0; i < 50 && existsSync(d); i++) {
          try {
            rmdirSync(d); // fails with EBUSY until the member processes are gone
          } catch {
            execFileSync('sleep', ['0.1']);
          }
        }
      }
    },
  };
}

/** Steer each side's receive processing to one CPU with RPS (veth has no IRQ): B's to cpuB, A's to cpuA. */
export function steer(cpuA: number, cpuB: number): void {
  for (const [ns, dev, cpu] of [
    [NS_A, DEV_A, cpuA],
    [NS_B, DEV_B, cpuB],
  ] as const) {
    // /sys/class/net of a namespace is only visible from inside it: `ip netns exec` remounts /sys for us.
    execFileSync('ip', ['netns', 'exec', ns, 'tee', `/sys/class/net/${dev}/queues/rx-0/rps_cpus`], {
      input: (1 << cpu).toString(16),
      stdio: ['pipe', 'ignore', 'pipe'],
    });
  }
}
