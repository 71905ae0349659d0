// A real lab from an inventory, exercised end to end on one machine: two emulated hosts (namespaces on a bridge)
// each run their own sshd (openssh-server, a host key and a client key made for the test); `testbed up
// --inventory` reaches them over SSH, checks prerequisites, installs the agent, starts it so that it outlives
// the SSH session, and reports each host's facts (NIC and driver); `down` stops the agents and removes the
// copies. The inventory loader's messages are checked first (no root needed).
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../e2e/helpers.ts';
import { loadInventory, parseInventory } from '../../testbed/inventory.ts';
import { CLAIM_INSTALL_DIR, REMOVE_IF_MARKED } from '../../testbed/inventory-lab.ts';
import { sshArgv } from '../../testbed/ssh.ts';
import { ensureBridge, ensureHostNetwork, removeLabNetwork } from '../../testbed/lab-network.ts';
import { labSkipReason, useTempTestbedDir } from './helpers.ts';

const FIXTURES = join(import.meta.dirname, '..', 'fixtures', 'inventory');

describe('inventory file', () => {
  it('loads a valid inventory with defaults and the key path resolved beside the file', () => {
    const inv = loadInventory(join(FIXTURES, 'good.yaml'));
    expect(inv.orchestrator).toEqual({ address: '169.254.0.1', port: 7787 });
    expect(inv.hosts.map((h) => [h.id, h.ssh.port, h.backend, h.installDir])).toEqual([
      ['server-1', 22, 'docker', '/opt/ironlab-agent'],
      ['peer-1', 2222, 'docker', '/opt/ironlab-agent'],
    ]);
    expect(inv.hosts[0].ssh.key).toBe(join(FIXTURES, 'key.txt'));
    expect(inv.hosts.map((h) => h.containerBlock)).toEqual(['169.254.0.64/28', '169.254.0.128/26']);
  });

  it("refuses a container block that is missing, not link-local, too small, another host's or on a host address: exit 2, naming the host and field", async () => {
    const lab = (a: string | null, b: string | null) =>
      [
        'orchestrator: { address: 169.254.0.1 }',
        'hosts:',
        ...[
          ['server-1', '169.254.0.11', a],
          ['peer-1', '169.254.0.12', b],
        ].flatMap(([id, address, block]) => [
          `  - id: ${id}`,
          `    address: ${address}`,
          '    ssh: { user: root, key: key.txt }',
          '    nic: eth0',
          '    cores: { victim: [0], neighbours: [0], peers: [1], nic: [0] }',
          ...(block ? [`    containerBlock: ${block}`] : []),
        ]),
      ].join('\n');
    const refused = (a: string | null, b: string | null) => {
      try {
        parseInventory(lab(a, b), join(FIXTURES, 'blocks.yaml'));
      } catch (err) {
        return (err as Error).message;
      }
      return 'accepted';
    };
    expect(refused('169.254.0.64/28', '169.254.0.80/28')).toBe('accepted');
    expect(refused('169.254.0.64/28', null)).toMatch(
      /blocks\.yaml:9:9: hosts\[1\]\.containerBlock \(host peer-1\): is required for a docker host/,
    );
    expect(refused('10.0.0.0/24', '169.254.0.80/28')).toMatch(
      /blocks\.yaml:8:21: hosts\[0\]\.containerBlock \(host server-1\): 10\.0\.0\.0\/24 is outside 169\.254\.0\.0\/16/,
    );
    expect(refused('169.254.0.64/31', '169.254.0.80/28')).toMatch(
      /hosts\[0\]\.containerBlock \(host server-1\): expected a prefix length from \/16 to \/30 \(at least 4 addresses\), got \/31/,
    );
    expect(refused('169.254.0.65/28', '169.254.0.80/28')).toMatch(
      /169\.254\.0\.65\/28 is not a block boundary \(did you mean 169\.254\.0\.64\/28\?\)/,
    );
    expect(refused('169.254.0.64/26', '169.254.0.80/28')).toMatch(
      /blocks\.yaml:14:21: hosts\[1\]\.containerBlock \(host peer-1\): 169\.254\.0\.80\/28 overlaps hosts\[0\]\.containerBlock \(host server-1\) 169\.254\.0\.64\/26; each host needs a block of its own/,
    );
    expect(refused('169.254.0.0/28', '169.254.0.80/28')).toMatch(
      /hosts\[0\]\.containerBlock \(host server-1\): 169\.254\.0\.0\/28 holds the orchestrator address 169\.254\.0\.1/,
    );
    // through the CLI: one refusal naming every problem, exit 2, nothing brought up
    const file = join(mkdtempSync(join(tmpdir(), 'ironlab-blocks-')), 'lab.yaml');
    writeFileSync(file, lab('169.254.0.64/26', '169.254.0.80/28').replaceAll('key.txt', join(FIXTURES, 'key.txt')));
    const r = await runCli(['testbed', 'up', '--inventory', file]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('hosts[1].containerBlock (host peer-1): 169.254.0.80/28 overlaps');
    expect(r.stdout).toBe('');
  });

  it('refuses mistakes with file:line:col, all of them, in file order', () => {
    expect(() => loadInventory(join(FIXTURES, 'bad.yaml'))).toThrowError(
      new RegExp(
        [
          String.raw`bad\.yaml:8:22: hosts\[0\]\.cores\.victim: expected a list of core numbers, e\.g\. \[0\], got 0`,
          String.raw`\n  .*bad\.yaml:9:5: hosts\[1\]\.nic: is required .*`,
          String.raw`\n  .*bad\.yaml:11:38: hosts\[1\]\.ssh: unknown key 'prot' \(expected one of: user, key, port\)`,
        ].join(''),
      ),
    );
  });

  const hostile = (host: Record<string, unknown>, orchestrator = '169.254.0.1') =>
    [
      `orchestrator: { address: ${JSON.stringify(orchestrator)} }`,
      'hosts:',
      `  - { id: h1, address: ${JSON.stringify(host.address ?? '169.254.0.11')}, ssh: { user: ${JSON.stringify(host.user ?? 'root')}, key: ${JSON.stringify(host.key ?? 'key.txt')} },`,
      `      nic: eth0, containerBlock: 169.254.0.64/28, cores: { victim: [0], neighbours: [0], peers: [1], nic: [0] }, installDir: ${JSON.stringify(host.installDir ?? '/opt/ironlab-agent')} }`,
    ].join('\n');
  const load = (text: string) => () => parseInventory(text, join(FIXTURES, 'hostile.yaml'));

  it('refuses values that ssh or a shell could read as options or commands, naming the field', () => {
    expect(load(hostile({ user: '-oProxyCommand=touch /tmp/pwned' }))).toThrow(
      /hostile\.yaml:3:\d+: hosts\[0\]\.ssh\.user: expected an SSH user name/,
    );
    expect(load(hostile({ user: 'root@evil' }))).toThrow(/ssh\.user/);
    expect(load(hostile({ address: '-oProxyCommand=x' }))).toThrow(
      /hosts\[0\]\.address: expected the address SSH reaches the host at: a host name or an IPv4 address/,
    );
    expect(load(hostile({ address: 'a b' }))).toThrow(/hosts\[0\]\.address/);
    expect(load(hostile({ address: '169.254.0.300' }))).toThrow(/four numbers 0-255/);
    expect(load(hostile({ key: '-oProxyCommand=x' }))).toThrow(/ssh\.key: expected the path/);
    expect(load(hostile({}, '$(reboot)'))).toThrow(
      /orchestrator\.address: expected the address the hosts reach this machine at: a host name or an IPv4 address/,
    );
  });

  it('refuses install directories that are not a directory of their own', () => {
    for (const dir of ['/opt', '/', 'opt/x', '/opt/../etc', '/opt/./x', '/opt/x y', '/opt/$(x)'])
      expect(load(hostile({ installDir: dir })), dir).toThrow(/installDir: expected an absolute path at least two levels deep/);
    expect(load(hostile({ installDir: '/opt/ironlab-lab.2' }))().hosts[0].installDir).toBe('/opt/ironlab-lab.2');
  });

  it('puts -- before the SSH destination', () => {
    const argv = sshArgv({ user: 'root', address: '169.254.0.11', key: '/k', port: 22 }, ['true'], '/tmp/x');
    expect(argv.slice(-3)).toEqual(['--', 'root@169.254.0.11', 'true']);
    expect(() => sshArgv({ user: '-oProxyCommand=x', address: 'h', key: '/k', port: 22 }, ['true'], '/tmp/x')).toThrow(
      /refusing SSH destination/,
    );
  });

  it('claims only an empty or marked install directory, and down removes only a marked one (the scripts run here)', () => {
    const root = mkdtempSync(join(tmpdir(), 'ironlab-installdir-'));
    const sh = (script: string, dir: string) => {
      try {
        execFileSync('sh', ['-c', script, 'sh', dir], { stdio: 'pipe' });
        return 0;
      } catch (err) {
        return (err as { status: number }).status;
      }
    };
    const foreign = join(root, 'opt');
    mkdirSync(foreign);
    writeFileSync(join(foreign, 'precious'), 'x');
    expect(sh(CLAIM_INSTALL_DIR, foreign)).toBe(3);
    expect(sh(REMOVE_IF_MARKED, foreign)).toBe(3);
    expect(existsSync(join(foreign, 'precious'))).toBe(true);
    const ours = join(root, 'ironlab-agent');
    expect(sh(CLAIM_INSTALL_DIR, ours)).toBe(0);
    writeFileSync(join(ours, 'agent.log'), 'x');
    expect(sh(CLAIM_INSTALL_DIR, ours)).toBe(0); // up again
    expect(sh(REMOVE_IF_MARKED, ours)).toBe(0);
    expect(existsSync(ours)).toBe(false);
    expect(sh(REMOVE_IF_MARKED, ours)).toBe(0); // down again
  });

  it('refuses a missing file', async () => {
    const r = await runCli(['testbed', 'up', '--inventory', '/nonexistent/lab.yaml']);
    expect(r.code).toBe(2);
    expect(r.stderr).toBe('ironlab: /nonexistent/lab.yaml: no such inventory file\n');
  });
});

const skip = labSkipReason('test/lab/inventory (SSH)', { root: true, commands: ['sshd', 'ssh', 'ssh-keygen', 'dockerd', 'docker'] });

describe.skipIf(skip)('inventory lab over SSH into emulated hosts', () => {
  const hosts = ['inv-1', 'inv-2'];
  const work = mkdtempSync(join(tmpdir(), 'ironlab-inv-'));
  const inventory = join(work, 'lab.yaml');
  const sshdPid = (h: string) => join(work, `sshd-${h}.pid`);
  let dir = '';

  beforeAll(async () => {
    dir = useTempTestbedDir();
    execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', join(work, 'id')]);
    execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', join(work, 'host_key')]);
    writeFileSync(join(work, 'authorized_keys'), readFileSync(join(work, 'id.pub')));
    mkdirSync('/run/sshd', { recursive: true }); // sshd's privilege separation directory
    await ensureBridge(dir);
    for (const [i, h] of hosts.entries()) {
      await ensureHostNetwork(h, i + 1);
      const config = join(work, `sshd-${h}.conf`);
      writeFileSync(
        config,
        [
          `ListenAddress 169.254.0.${11 + i}`,
          `HostKey ${join(work, 'host_key')}`,
          `AuthorizedKeysFile ${join(work, 'authorized_keys')}`,
          'PermitRootLogin prohibit-password',
          'PasswordAuthentication no',
          'KbdInteractiveAuthentication no',
          'UsePAM no',
          'StrictModes no',
          `PidFile ${sshdPid(h)}`,
          '',
        ].join('\n'),
      );
      // `ip netns exec` gives sshd (and so the agent it starts) a sysfs that shows the host's own eth0.
      execFileSync('ip', ['netns', 'exec', `ironlab-${h}`, '/usr/sbin/sshd', '-f', config, '-E', join(work, `sshd-${h}.log`)]);
    }
    writeFileSync(
      inventory,
      [
        'orchestrator: { address: 169.254.0.1, port: 7787 }',
        'hosts:',
        ...hosts.flatMap((h, i) => [
          `  - id: ${h}`,
          `    address: 169.254.0.${11 + i}`,
          '    ssh: { user: root, key: id }',
          `    roles: [${i === 0 ? 'server' : 'peer'}]`,
          `    containerBlock: 169.254.0.${64 + 16 * i}/28`,
          '    nic: eth0',
          '    cores: { victim: [0], neighbours: [0], peers: [1], nic: [0] }',
          `    installDir: /opt/ironlab-test-${h}`,
        ]),
        '',
      ].join('\n'),
    );
  });

  afterAll(async () => {
    await runCli(['testbed', 'down']);
    for (const h of hosts) {
      if (existsSync(sshdPid(h))) process.kill(Number(readFileSync(sshdPid(h), 'utf8')), 'SIGTERM');
    }
    await removeLabNetwork(hosts.map((h) => `ironlab-${h}`));
  });

  it('installs and starts an agent on each host and reports its facts', async () => {
    const up = await runCli(['testbed', 'up', '--inventory', inventory]);
    expect(up.code, up.stdout + up.stderr).toBe(0);
    expect(up.stdout).toContain('inventory lab, 2 host(s), orchestrator address ws://169.254.0.1:7787');
    expect(up.stdout).toMatch(/inv-1\s+server\s+docker\s+169\.254\.0\.11\s+0\/0\/1\/0\s+authenticated\s.*eth0 \((veth|virtual)\)\s+rx-0:/);
    expect(up.stdout).toMatch(/inv-2\s+peer\s+docker\s+169\.254\.0\.12\s.*authenticated\s.*eth0 \((veth|virtual)\)\s+rx-0:/);
    expect(existsSync('/opt/ironlab-test-inv-1/testbed/lab-agent.ts')).toBe(true);
  });

  it('finds the agents still running after the SSH sessions ended, and up again changes nothing', async () => {
    const s = await runCli(['testbed', 'status']);
    expect(s.stdout).toMatch(/inv-1\s+server\s+docker\s+169\.254\.0\.11\s+(waiting|connected) \(pid \d+\)\s.*running\s+[0-9a-f]{12}/);
    const again = await runCli(['testbed', 'up', '--inventory', inventory]);
    expect(again.code, again.stderr).toBe(0);
    expect(again.stdout).toContain('already up, nothing changed');
  });

  it('stops the agents and removes the copies on down', async () => {
    const down = await runCli(['testbed', 'down']);
    expect(down.code, down.stderr).toBe(0);
    expect(down.stdout).toMatch(/agent inv-1 \(pid \d+\).*inv-1:\/opt\/ironlab-test-inv-1/);
    expect(existsSync('/opt/ironlab-test-inv-1')).toBe(false);
    expect(existsSync('/opt/ironlab-test-inv-2')).toBe(false);
    const left = execFileSync('ps', ['-eo', 'args'], { encoding: 'utf8' })
      .split('\n')
      .filter((l) => (l.includes('lab-agent.ts') && l.includes('inv-')) || l.includes(dir));
    expect(left).toEqual([]); // no agent, no SSH connection left open
    expect(existsSync(dir)).toBe(false);
  });
});
