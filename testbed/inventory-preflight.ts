// What every inventory host must already have before `testbed up` changes anything on any of them: a Node.js
// the agent runs on (20 or later; Debian bookworm ships 18, so it is checked, not installed), and a traffic NIC
// whose subnet holds the host's container block. A host that falls short is refused with what fixes it:
// exit 2, the host, what was found, nothing installed.
import { execFileSync } from 'node:child_process';
import { machine } from 'node:os';
import { blockHolds, blockOf, intToIp, ipToInt } from '../agents/container-block.ts';
import { PrerequisiteError } from '../workloads/common/errors.ts';
import { shellQuote, SUDO_COMMANDS, sudoersLine, type SshTarget } from './ssh.ts';

export const MIN_NODE_MAJOR = 20;

/** What one SSH call finds on a host. */
export interface HostFindings {
  uid: number;
  arch: string;
  /** `node --version` there (`v20.11.1`), or null when there is none on the SSH session's PATH. */
  node: string | null;
  /** The traffic NIC's IPv4 address/prefix (`169.254.0.11/24`), or null when it has none (or does not exist). */
  nicCidr: string | null;
  /** For a user other than root: `yes` (sudo -n may run every command of SUDO_COMMANDS that is there), `refused`
   *  (some it may not: sudoRefused), `missing` (no sudo). */
  sudo: 'root' | 'yes' | 'refused' | 'missing';
  /** Commands of SUDO_COMMANDS that `sudo -n -l` refused: not allowed, or allowed only with a password. */
  sudoRefused: string[];
  /** Commands of SUDO_COMMANDS not on the host yet (docker before docker.io is installed): sudo cannot say whether
   *  it allows a command it does not find, so they are checked again once the packages are in. */
  sudoUnchecked: string[];
}

/**
 * Whether sudo -n lets the user run each of SUDO_COMMANDS, asked the way ironlab runs them (by name, as sudo
 * finds them on its secure_path): `sudo -n -l CMD` answers without running anything, and without prompting.
 * (`sudo -n true` would ask about a command ironlab never runs, and that the README's sudoers line does not allow.)
 */
const SUDO_CHECK = `if [ "$(id -u)" -eq 0 ]; then echo root; elif ! command -v sudo >/dev/null 2>&1; then echo missing; else r=; a=; for c in ${Object.keys(SUDO_COMMANDS).join(' ')}; do e=$(LC_ALL=C sudo -n -l "$c" 2>&1 >/dev/null) || case "$e" in *"command not found"*) a="$a,$c" ;; *) r="$r,$c" ;; esac; done; if [ -n "$r" ]; then echo "refused $r $a"; else echo "yes , $a"; fi; fi`;

/** One shell line, one round trip ($1 = the traffic NIC): uid, architecture, Node's version, the NIC's address (the
 *  first IPv4 line's fourth field, read by the shell: a lab host may lack awk), sudo. */
export const FINDINGS_SCRIPT = `printf 'uid=%s\\narch=%s\\nnode=%s\\nnic=%s\\nsudo=%s\\n' "$(id -u)" "$(uname -m)" "$(node --version 2>/dev/null || echo none)" "$(ip -4 -o addr show dev "$1" 2>/dev/null | { read -r _ _ _ a _; echo "$a"; })" "$(${SUDO_CHECK})"`;

export function parseFindings(out: string): HostFindings {
  const v = Object.fromEntries(
    out
      .split('\n')
      .map((l) => /^(\w+)=(.*)$/.exec(l.trim()))
      .filter((m) => m !== null)
      .map((m) => [m[1], m[2]]),
  );
  return {
    uid: v.uid ? Number(v.uid) : NaN,
    arch: v.arch ?? '',
    node: !v.node || v.node === 'none' ? null : v.node,
    nicCidr: v.nic || null,
    ...sudoFindings(v.sudo ?? ''),
  };
}

/** `root`, `missing`, or `yes|refused <refused,...> <absent,...>` (lists led by a comma) as SUDO_CHECK prints it. */
function sudoFindings(line: string): Pick<HostFindings, 'sudo' | 'sudoRefused' | 'sudoUnchecked'> {
  const [word, refused = '', absent = ''] = line.split(' ');
  const list = (l: string) => l.split(',').filter(Boolean);
  const sudo = word === 'root' || word === 'yes' || word === 'refused' ? word : 'missing';
  return { sudo, sudoRefused: list(refused), sudoUnchecked: list(absent) };
}

/**
 * The refusal for an SSH user other than root who cannot run ironlab's commands through `sudo -n`, or null.
 * The agent runs as root (containers, cgroups, tc, sysfs): such a user needs passwordless sudo for them.
 */
export function sudoProblem(hostId: string, t: SshTarget, f: HostFindings): PrerequisiteError | null {
  if (f.uid === 0 || f.sudo === 'yes' || f.sudo === 'root') return null;
  const why =
    f.sudo === 'missing'
      ? `sudo is not installed there (as root: apt-get install -y sudo), and`
      : `sudo -n does not let ${t.user} run ${f.sudoRefused.join(', ')} there (sudo -n -l refused: not allowed as sudo finds it on its secure_path, or only with a password):`;
  return new PrerequisiteError(
    `SSH user ${t.user} is not root; ${why} ironlab runs its commands through sudo -n. Allow them in /etc/sudoers.d/ironlab: ${sudoersLine(t.user)}`,
    `host ${hostId}`,
  );
}

/** The Node.js refusal for a host, or null when its Node will do. `target` goes into the fix command. */
export function nodeProblem(hostId: string, t: SshTarget, f: HostFindings, sudo: boolean): PrerequisiteError | null {
  const major = f.node ? Number(/^v(\d+)\./.exec(f.node)?.[1] ?? NaN) : NaN;
  if (major >= MIN_NODE_MAJOR) return null;
  const found = f.node ? `found ${f.node}` : "found none on the SSH session's PATH";
  return new PrerequisiteError(
    `needs Node.js ${MIN_NODE_MAJOR} or later, ${found}; install it there, e.g. ${nodeFix(t, f, sudo)}`,
    `host ${hostId}`,
  );
}

/** The container block's refusal for a host, or null when its traffic NIC's subnet holds it (and not the NIC's
 *  own address): macvlan containers sit on the NIC's wire, on-link. */
export function blockProblem(hostId: string, nic: string, block: string, f: HostFindings): PrerequisiteError | null {
  const where = `host ${hostId}`;
  if (!f.nicCidr)
    return new PrerequisiteError(
      `its traffic NIC ${nic} has no IPv4 address (or does not exist); its containerBlock ${block} must lie on that NIC's subnet`,
      where,
    );
  const [address, bits] = f.nicCidr.split('/');
  const size = 2 ** (32 - Number(bits));
  const subnet = { start: Math.floor(ipToInt(address) / size) * size, size };
  const b = blockOf(block);
  if (b.start < subnet.start || b.start + b.size > subnet.start + subnet.size)
    return new PrerequisiteError(
      `containerBlock ${block} is not inside the subnet of its traffic NIC ${nic} (${intToIp(subnet.start)}/${bits}); declare a block there`,
      where,
    );
  if (blockHolds(b, address))
    return new PrerequisiteError(
      `containerBlock ${block} holds the address of its traffic NIC ${nic} (${address}); declare a block without it`,
      where,
    );
  return null;
}

/** This machine's own node, copied over, when it can run there (same architecture, no shared libnode);
 *  else the packaged way. */
function nodeFix(t: SshTarget, f: HostFindings, sudo: boolean): string {
  const here = process.execPath;
  const remote = `${sudo ? 'sudo -n ' : ''}sh -c 'cat > /usr/local/bin/node && chmod 755 /usr/local/bin/node'`;
  if (f.arch === machine() && Number(process.versions.node.split('.')[0]) >= MIN_NODE_MAJOR && selfContained(here))
    return `this machine's v${process.versions.node}: ssh -i ${shellQuote(t.key)} -p ${t.port} ${t.user}@${t.address} ${shellQuote(remote)} < ${shellQuote(here)}`;
  return `a nodejs package of version ${MIN_NODE_MAJOR} or later for ${f.arch || 'its architecture'} (Debian bookworm's own nodejs is 18): ${sudo ? 'sudo ' : ''}apt-get install -y nodejs, from a repository that has it`;
}

/** A node binary that links no libnode (Debian's own does; NodeSource's and the official builds do not). */
function selfContained(bin: string): boolean {
  try {
    return !/libnode\.so/.test(execFileSync('ldd', [bin], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }));
  } catch {
    return false;
  }
}
