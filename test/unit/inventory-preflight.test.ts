// The Node.js check `testbed up --inventory` makes on every host before it changes anything: the findings
// script as a host's shell runs it, and the refusal a user reads (host, version found, the command to run).
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { blockProblem, FINDINGS_SCRIPT, nodeProblem, parseFindings, sudoProblem } from '../../testbed/inventory-preflight.ts';
import { sshArgv, sudoersLine } from '../../testbed/ssh.ts';

const target = { address: '169.254.0.11', user: 'alice', key: '/home/me/.ssh/lab key', port: 2222 };
/** Findings of a host where sudo refused nothing and checked everything. */
const allowed = { sudoRefused: [], sudoUnchecked: [] };

describe('inventory preflight: Node.js on a lab host', () => {
  it('reads uid, architecture and Node version from the script as a shell runs it', () => {
    const f = parseFindings(execFileSync('sh', ['-c', FINDINGS_SCRIPT, 'sh', 'lo'], { encoding: 'utf8' }));
    expect(f.uid).toBe(process.getuid!());
    expect(f.node).toBe(process.version);
    expect(f.nicCidr).toBe('127.0.0.1/8');
    expect(parseFindings(execFileSync('sh', ['-c', FINDINGS_SCRIPT, 'sh', 'nonexistent0'], { encoding: 'utf8' })).nicCidr).toBeNull();
    // a host whose PATH has id and uname but no node
    const bin = mkdtempSync(join(tmpdir(), 'ironlab-nonode-'));
    for (const tool of ['id', 'uname'])
      symlinkSync(execFileSync('sh', ['-c', `command -v ${tool}`], { encoding: 'utf8' }).trim(), join(bin, tool));
    const none = parseFindings(execFileSync('/bin/sh', ['-c', FINDINGS_SCRIPT, 'sh', 'lo'], { encoding: 'utf8', env: { PATH: bin } }));
    // ... and one with ip but no awk (a minimal lab host): the NIC's address is still read
    symlinkSync(execFileSync('sh', ['-c', 'command -v ip'], { encoding: 'utf8' }).trim(), join(bin, 'ip'));
    const noAwk = parseFindings(execFileSync('/bin/sh', ['-c', FINDINGS_SCRIPT, 'sh', 'lo'], { encoding: 'utf8', env: { PATH: bin } }));
    rmSync(bin, { recursive: true });
    expect(none).toEqual({ ...f, node: null, nicCidr: null });
    expect(noAwk.nicCidr).toBe('127.0.0.1/8');
  });

  it('passes Node 20 and later', () => {
    for (const node of ['v20.0.0', 'v22.11.0', 'v100.1.0'])
      expect(nodeProblem('lab-a', target, { uid: 0, arch: 'x86_64', node, nicCidr: null, sudo: 'root', ...allowed }, false)).toBeNull();
  });

  it('refuses an older or missing Node with exit 2, naming the host, what it found and the command to run', () => {
    const old = nodeProblem(
      'lab-a',
      target,
      { uid: 1000, arch: 'x86_64', node: 'v18.19.0', nicCidr: null, sudo: 'yes', ...allowed },
      true,
    )!;
    expect(old.name).toBe('PrerequisiteError'); // the CLI's exit 2
    expect(old.message).toMatch(/^host lab-a: needs Node\.js 20 or later, found v18\.19\.0; install it there, e\.g\. /);
    const none = nodeProblem('lab-b', target, { uid: 0, arch: 'riscv64', node: null, nicCidr: null, sudo: 'root', ...allowed }, false)!;
    expect(none.message).toMatch(
      /^host lab-b: needs Node\.js 20 or later, found none on the SSH session's PATH; install it there, e\.g\. a nodejs package of version 20 or later for riscv64/,
    );
  });

  it("offers this machine's own node when it can run there, as a command that copies it", () => {
    const same = nodeProblem(
      'lab-a',
      target,
      { uid: 1000, arch: process.arch === 'x64' ? 'x86_64' : process.arch, node: 'v18.19.0', nicCidr: null, sudo: 'yes', ...allowed },
      true,
    )!;
    const ldd = execFileSync('ldd', [process.execPath], { encoding: 'utf8' });
    if (/libnode/.test(ldd)) return void expect(same.message).toContain('apt-get install -y nodejs');
    expect(same.message).toContain(
      `this machine's ${process.version}: ssh -i '/home/me/.ssh/lab key' -p 2222 alice@169.254.0.11 'sudo -n sh -c '\\''cat > /usr/local/bin/node && chmod 755 /usr/local/bin/node'\\''' < ${process.execPath}`,
    );
  });
});

describe("inventory preflight: the container block on the host's traffic NIC", () => {
  const at = (nicCidr: string | null) => ({ uid: 0, arch: 'x86_64', node: 'v20.1.0', nicCidr, sudo: 'root' as const, ...allowed });
  it('accepts a block inside the NIC subnet that does not hold the NIC address', () => {
    expect(blockProblem('lab-a', 'ens1f0', '169.254.0.64/28', at('169.254.0.11/24'))).toBeNull();
    expect(blockProblem('lab-a', 'ens1f0', '169.254.12.0/22', at('169.254.1.5/16'))).toBeNull();
  });
  it('refuses, naming the host and the NIC, a block off the subnet, one holding the NIC address, or a NIC without IPv4', () => {
    const off = blockProblem('lab-a', 'ens1f0', '169.254.1.64/28', at('169.254.0.11/24'))!;
    expect(off.name).toBe('PrerequisiteError');
    expect(off.message).toBe(
      'host lab-a: containerBlock 169.254.1.64/28 is not inside the subnet of its traffic NIC ens1f0 (169.254.0.0/24); declare a block there',
    );
    expect(blockProblem('lab-a', 'ens1f0', '169.254.0.0/28', at('169.254.0.11/24'))!.message).toBe(
      'host lab-a: containerBlock 169.254.0.0/28 holds the address of its traffic NIC ens1f0 (169.254.0.11); declare a block without it',
    );
    expect(blockProblem('lab-b', 'eth9', '169.254.0.64/28', at(null))!.message).toMatch(
      /^host lab-b: its traffic NIC eth9 has no IPv4 address/,
    );
  });
});

describe('inventory preflight: an SSH user other than root', () => {
  const findings = (uid: number, sudo: 'root' | 'yes' | 'refused' | 'missing', sudoRefused: string[] = []) => ({
    uid,
    arch: 'x86_64',
    node: 'v20.1.0',
    nicCidr: null,
    sudo,
    sudoRefused,
    sudoUnchecked: [],
  });
  const line = 'alice ALL=(root) NOPASSWD: /bin/sh, /usr/bin/cat, /usr/bin/env, /usr/bin/docker, /usr/bin/dpkg-query, /usr/bin/apt-get';

  /**
   * The findings script as the shell of a host where the SSH user (uid 1000) has a sudo that allows the commands
   * in `allow` (names, as the host's sudoers would resolve them) and where the commands in `absent` are not
   * installed: a stand-in for sudo that answers `-n -l CMD` and `-n CMD` as sudo does.
   */
  function onHost(allow: string[], absent: string[] = []) {
    const bin = mkdtempSync(join(tmpdir(), 'ironlab-sudo-'));
    writeFileSync(join(bin, 'id'), '#!/bin/sh\necho 1000\n', { mode: 0o755 });
    writeFileSync(
      join(bin, 'sudo'),
      [
        '#!/bin/sh',
        '[ "$1" = -n ] || exit 9',
        'shift',
        'if [ "$1" = -l ]; then shift; list=1; fi',
        'case " $ABSENT " in *" $1 "*) echo "sudo: $1: command not found" >&2; exit 1 ;; esac',
        'case " $ALLOW " in *" $1 "*) [ -n "$list" ] && echo "/usr/bin/$1"; exit 0 ;; esac',
        '[ -n "$list" ] && exit 1',
        'echo "sudo: a password is required" >&2; exit 1',
      ].join('\n') + '\n',
      { mode: 0o755 },
    );
    try {
      return parseFindings(
        execFileSync('sh', ['-c', FINDINGS_SCRIPT, 'sh', 'lo'], {
          encoding: 'utf8',
          env: { PATH: `${bin}:${process.env.PATH}`, ALLOW: allow.join(' '), ABSENT: absent.join(' ') },
        }),
      );
    } finally {
      rmSync(bin, { recursive: true });
    }
  }

  it("reads whether sudo -n works from the script as this machine's shell runs it", () => {
    const f = parseFindings(execFileSync('sh', ['-c', FINDINGS_SCRIPT, 'sh', 'lo'], { encoding: 'utf8' }));
    if (process.getuid!() === 0) expect(f.sudo).toBe('root');
    else expect(['yes', 'refused', 'missing']).toContain(f.sudo);
  });

  it("passes a user whose sudoers has the README's line, though it does not allow `true`", () => {
    const f = onHost(['sh', 'cat', 'env', 'docker', 'dpkg-query', 'apt-get']);
    expect(f).toMatchObject({ uid: 1000, sudo: 'yes', sudoRefused: [], sudoUnchecked: [] });
    expect(sudoProblem('lab-a', target, f)).toBeNull();
  });

  it('refuses a user allowed `true` but not every command ironlab runs, naming the ones missing', () => {
    const f = onHost(['true', 'sh', 'cat', 'env', 'dpkg-query']);
    expect(f).toMatchObject({ sudo: 'refused', sudoRefused: ['docker', 'apt-get'] });
    const p = sudoProblem('lab-a', target, f)!;
    expect(p.name).toBe('PrerequisiteError'); // the CLI's exit 2
    expect(p.message).toBe(
      `host lab-a: SSH user alice is not root; sudo -n does not let alice run docker, apt-get there (sudo -n -l refused: not allowed as sudo finds it on its secure_path, or only with a password): ironlab runs its commands through sudo -n. Allow them in /etc/sudoers.d/ironlab: ${line}`,
    );
  });

  it('leaves a command the host does not have yet (docker before docker.io) to be checked once it is installed', () => {
    const f = onHost(['sh', 'cat', 'env', 'dpkg-query', 'apt-get'], ['docker']);
    expect(f).toMatchObject({ sudo: 'yes', sudoRefused: [], sudoUnchecked: ['docker'] });
    expect(sudoProblem('lab-a', target, f)).toBeNull();
  });

  it('passes root', () => {
    expect(sudoProblem('lab-a', { ...target, user: 'root' }, findings(0, 'root'))).toBeNull();
  });

  it('refuses a user without sudo (exit 2), naming the host, why, and the sudoers line to add', () => {
    expect(sudoProblem('lab-b', target, findings(1000, 'missing'))!.message).toBe(
      `host lab-b: SSH user alice is not root; sudo is not installed there (as root: apt-get install -y sudo), and ironlab runs its commands through sudo -n. Allow them in /etc/sudoers.d/ironlab: ${line}`,
    );
  });

  it("gives the README's sudoers line: the README, the preflight and the commands sent are one list", () => {
    const readme = readFileSync(join(import.meta.dirname, '..', '..', 'README.md'), 'utf8').replace(/\s+/g, ' ');
    expect(readme).toContain(`\`/etc/sudoers.d/ironlab\`: \`${sudoersLine('alice')}\``);
    expect(sudoersLine('alice')).toBe(line);
  });

  it("sends a user other than root's commands through sudo -n, each argument still quoted, and only the listed ones", () => {
    const argv = sshArgv({ ...target, sudo: true }, ['sh', '-c', 'echo "$1"', 'sh', "it's"], '/tmp/tb');
    expect(argv.at(-1)).toBe(`sudo -n -- sh -c 'echo "$1"' sh 'it'\\''s'`);
    expect(sshArgv(target, ['cat', '/x'], '/tmp/tb').at(-1)).toBe('cat /x');
    for (const cmd of ['true', 'setsid', 'node', '/bin/sh'])
      expect(() => sshArgv({ ...target, sudo: true }, [cmd], '/tmp/tb')).toThrow(
        `ironlab runs only sh, cat, env, docker, dpkg-query, apt-get through sudo -n, not "${cmd}"`,
      );
    expect(sshArgv({ ...target, user: 'root' }, ['true'], '/tmp/tb').at(-1)).toBe('true'); // root needs no list
  });
});
