// Reaching an inventory host: the system ssh client, with argv arrays on our side. The remote side of SSH is
// always a shell command line, so every argument is single-quoted (POSIX) before it is joined: no value from
// an inventory or a path is ever interpreted by the remote shell. Host keys: trust on first use, remembered in
// the testbed's own known_hosts (removed by `down`), never in the user's. One multiplexed connection per host
// (ControlMaster) carries a command's many calls; the command closes it when done (closeSsh). The destination
// follows `--`, and user and address are checked again here, so no inventory value can become an ssh option.
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { CommandFailed, run, type RunOptions } from './exec.ts';
import { testbedDir } from './state.ts';

export interface SshTarget {
  address: string;
  user: string;
  key: string;
  port: number;
  /** Run every command through `sudo -n` (an SSH user other than root; the preflight checked it may). */
  sudo?: boolean;
}

/**
 * The commands ironlab runs on an inventory host, and where Debian puts them. For an SSH user other than root
 * each goes through `sudo -n`, so this is the list the host's sudoers must allow: the preflight checks each
 * (`sudo -n -l`), sshArgv refuses to send anything else through sudo, and the README's sudoers line is
 * sudoersLine (a unit test holds the README to it).
 */
export const SUDO_COMMANDS = {
  sh: '/bin/sh',
  cat: '/usr/bin/cat',
  env: '/usr/bin/env',
  docker: '/usr/bin/docker',
  'dpkg-query': '/usr/bin/dpkg-query',
  'apt-get': '/usr/bin/apt-get',
} as const;
export type SudoCommand = keyof typeof SUDO_COMMANDS;

/** The /etc/sudoers.d line that lets user run SUDO_COMMANDS as root without a password. */
export function sudoersLine(user: string): string {
  return `${user} ALL=(root) NOPASSWD: ${Object.values(SUDO_COMMANDS).join(', ')}`;
}

export function shellQuote(arg: string): string {
  return /^[A-Za-z0-9_./=:@%+,-]+$/.test(arg) ? arg : `'${arg.replace(/'/g, `'\\''`)}'`;
}

export function sshArgv(t: SshTarget, remote: string[], dir = testbedDir()): string[] {
  // A command the preflight did not check would fail on the host only, with sudo's own words: refused here.
  if (t.sudo && !Object.hasOwn(SUDO_COMMANDS, remote[0]))
    throw new Error(
      `ironlab runs only ${Object.keys(SUDO_COMMANDS).join(', ')} through sudo -n, not ${JSON.stringify(remote[0])}: add it to SUDO_COMMANDS (testbed/ssh.ts) and to the README's sudoers line`,
    );
  const argv = t.sudo ? ['sudo', '-n', '--', ...remote] : remote;
  return [...sshOptions(t, dir), '--', destination(t), argv.map(shellQuote).join(' ')];
}

function destination(t: SshTarget): string {
  if (!/^[a-z_][a-z0-9_.-]*$/.test(t.user) || !/^[A-Za-z0-9][A-Za-z0-9.-]*$/.test(t.address))
    throw new Error(`refusing SSH destination ${JSON.stringify(`${t.user}@${t.address}`)}`);
  return `${t.user}@${t.address}`;
}

function sshOptions(t: SshTarget, dir: string): string[] {
  return [
    'ssh',
    '-i',
    t.key,
    '-p',
    String(t.port),
    '-o',
    'BatchMode=yes',
    '-o',
    'StrictHostKeyChecking=accept-new',
    '-o',
    `UserKnownHostsFile=${join(dir, 'known_hosts')}`,
    '-o',
    'ConnectTimeout=10',
    '-o',
    'LogLevel=ERROR',
    '-o',
    'ControlMaster=auto',
    '-o',
    `ControlPath=${join(dir, 'ssh-%C')}`,
    '-o',
    'ControlPersist=15',
  ];
}

/** End the multiplexed connection to a host, if any (otherwise it would linger for ControlPersist). */
export async function closeSsh(t: SshTarget, dir = testbedDir()): Promise<void> {
  await run([...sshOptions(t, dir), '-O', 'exit', '--', destination(t)]).catch(() => undefined);
}

/** Run argv on the host; resolves with its stdout. */
export function sshRun(t: SshTarget, remote: string[], opts: RunOptions = {}): Promise<string> {
  return run(sshArgv(t, remote), opts);
}

/** `tar -c` here piped into `tar -x` there: copies a directory tree to the host in one stream. */
export function sshCopyTree(t: SshTarget, localDir: string, remoteDir: string, exclude: string[]): Promise<void> {
  const remote = sshArgv(t, ['sh', '-c', 'mkdir -p "$1" && exec tar -x -C "$1"', 'sh', remoteDir]);
  return new Promise((resolve, reject) => {
    const tar = spawn('tar', ['-C', localDir, ...exclude.map((e) => `--exclude=${e}`), '-c', '.'], { stdio: ['ignore', 'pipe', 'pipe'] });
    const ssh = spawn(remote[0], remote.slice(1), { stdio: ['pipe', 'ignore', 'pipe'] });
    let err = '';
    tar.stderr.on('data', (d) => (err += d));
    ssh.stderr.on('data', (d) => (err += d));
    tar.stdout.pipe(ssh.stdin);
    ssh.on('exit', (code) => (code === 0 ? resolve() : reject(new CommandFailed(remote, code, err))));
  });
}
