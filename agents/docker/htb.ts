// HTB rate limiting of a sending container, on its own eth0 (inside its network namespace), as the paper does
// for rate-limited senders: packets queue in the qdisc and are dequeued later in NET_TX softirq. The qdisc
// lives in the container's namespace, so it cannot outlive the container; teardown still deletes it first.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

const run = promisify(execFile);

function tcIn(pid: number, args: string[]) {
  if (!Number.isInteger(pid) || pid <= 0) throw new Error(`bad pid ${pid}`);
  return run('nsenter', [`--net=/proc/${pid}/ns/net`, 'tc', ...args]);
}

export async function addHtb(pid: number, rateBps: number, dev = 'eth0'): Promise<void> {
  const rate = `${Math.round(rateBps)}bit`;
  await tcIn(pid, ['qdisc', 'replace', 'dev', dev, 'root', 'handle', '1:', 'htb', 'default', '10']);
  await tcIn(pid, ['class', 'replace', 'dev', dev, 'parent', '1:', 'classid', '1:10', 'htb', 'rate', rate, 'ceil', rate]);
}

export async function removeHtb(pid: number, dev = 'eth0'): Promise<void> {
  await tcIn(pid, ['qdisc', 'del', 'dev', dev, 'root']).catch(() => undefined); // gone already: fine
}

/** `tc -s qdisc show` drops of the HTB root (packets the qdisc refused), or 0 when there is none. */
export async function htbDrops(pid: number, dev = 'eth0'): Promise<number> {
  try {
    const { stdout } = await tcIn(pid, ['-s', 'qdisc', 'show', 'dev', dev]);
    return parseQdiscDrops(stdout, 'htb');
  } catch {
    return 0;
  }
}

/** From `tc -s qdisc show`: ` Sent 123 bytes 4 pkt (dropped 5, overlimits 6 requeues 0)` under the `kind` line. */
export function parseQdiscDrops(text: string, kind: string): number {
  const lines = text.split('\n');
  const i = lines.findIndex((l) => l.startsWith(`qdisc ${kind} `));
  if (i < 0) return 0;
  const m = lines
    .slice(i + 1, i + 3)
    .join(' ')
    .match(/dropped (\d+)/);
  return m ? Number(m[1]) : 0;
}
