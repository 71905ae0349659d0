// Helpers for the lab suites: real namespaces, dockerds and sshd on this machine. They run in CI (root) and,
// outside CI, skip with a printed reason when they cannot run; in CI a missing prerequisite is a failure.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** Why this machine cannot run a real-lab suite, or null. In CI there is no excuse: it throws. */
export function labSkipReason(suite: string, needs: { root?: boolean; commands?: string[] } = {}): string | null {
  const problems: string[] = [];
  if (needs.root && process.getuid?.() !== 0) problems.push('needs root');
  for (const c of needs.commands ?? []) if (!onPath(c)) problems.push(`needs ${c} (testbed/prereqs-lab.sh installs it)`);
  if (needs.root && !process.env.CI && existsSync('/var/run/netns/ironlab-lab-1'))
    problems.push('a testbed is up on this machine (ironlab testbed down first)');
  if (!problems.length) return null;
  const reason = `${suite}: ${problems.join('; ')}`;
  if (process.env.CI) throw new Error(`CI must run ${reason}`);
  console.log(`skipping ${reason}`);
  return reason;
}

function onPath(cmd: string): boolean {
  return ['/usr/local/sbin', '/usr/local/bin', '/usr/sbin', '/usr/bin', '/sbin', '/bin'].some((d) => existsSync(join(d, cmd)));
}

/** A fresh testbed directory for this suite, set for the CLI processes it starts. */
export function useTempTestbedDir(): string {
  const dir = join(mkdtempSync(join(tmpdir(), 'ironlab-lab-test-')), 'testbed');
  process.env.IRONLAB_TESTBED_DIR = dir;
  return dir;
}

/** Everything of an emulated lab that could be left behind: empty lists when nothing is. */
export function labLeftovers(dir: string): Record<string, string[]> {
  const netns = existsSync('/var/run/netns') ? readdirSync('/var/run/netns').filter((n) => /^ironlab-lab-\d+$/.test(n)) : [];
  // taps too: a dead QEMU lab's tap cabled to the lab bridge is the emulated lab's to sweep
  const links = linkNames(/^ironlab-(br0|v\d+|t\d+)$/);
  const processes = processesMatching((cmd) => cmd.includes('/run/ironlab-testbed') || cmd.includes('lab-agent.ts') || cmd.includes(dir));
  const mounts = readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .map((l) => l.split(' ')[4])
    .filter((m): m is string => !!m && (m.startsWith('/run/ironlab-testbed') || m.startsWith(dir) || /\/netns\/ironlab-lab-\d+$/.test(m)));
  const files = [dir, '/run/ironlab-testbed'].filter((p) => existsSync(p));
  return { netns, links, processes, mounts, rules: ourForwardRules(), files };
}

/** The lab bridge's FORWARD rules (comment ironlab) that are in place. */
function ourForwardRules(): string[] {
  try {
    return execFileSync('iptables', ['-S', 'FORWARD'], { encoding: 'utf8' })
      .split('\n')
      .filter((r) => r.includes('"ironlab"') || r.includes('comment ironlab'));
  } catch {
    return []; // no iptables: no rule
  }
}

/** `pid: command line` (its first 120 characters) of every process whose command line passes. */
function processesMatching(wanted: (cmd: string) => boolean): string[] {
  const out: string[] = [];
  for (const d of readdirSync('/proc').filter((d) => /^\d+$/.test(d))) {
    try {
      const cmd = readFileSync(`/proc/${d}/cmdline`, 'utf8').replace(/\0/g, ' ');
      if (wanted(cmd)) out.push(`${d}: ${cmd.slice(0, 120)}`);
    } catch {
      /* gone */
    }
  }
  return out;
}

/** This machine's network interfaces whose names match. */
function linkNames(pattern: RegExp): string[] {
  return execFileSync('ip', ['-o', 'link', 'show'], { encoding: 'utf8' })
    .split('\n')
    .map((l) => l.split(': ')[1]?.split('@')[0])
    .filter((n): n is string => !!n && pattern.test(n));
}

export const NOTHING_LEFT = { netns: [], links: [], processes: [], mounts: [], rules: [], files: [] };

/** What a QEMU lab (testbed up --kernel iron) could leave behind: its taps and bridge, its FORWARD rule, its QEMUs,
 *  its directory. */
export function ironLeftovers(dir: string): Record<string, string[]> {
  const links = linkNames(/^ironlab-(br0|t\d+)$/);
  const processes = processesMatching((cmd) => cmd.includes('qemu-system') && cmd.includes(dir));
  return { links, rules: ourForwardRules(), processes, files: existsSync(dir) ? [dir] : [] };
}
