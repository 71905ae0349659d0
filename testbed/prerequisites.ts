// What a testbed host needs, as Debian packages: checked with dpkg, installed with apt-get when we are root,
// refused with one PrerequisiteError naming what is missing when we are not. The same check runs on this
// machine (emulated lab) and, through SSH, on an inventory's hosts: it takes a command runner.
import { PrerequisiteError } from '../workloads/common/errors.ts';
import type { Say } from './steps.ts';

/** Debian packages of a lab host. Why each: the docker backend (docker.io, iperf3/sysbench are in the image but
 *  handy on the host), the image build (debootstrap), namespaces and steering (iproute2, util-linux, iptables),
 *  eBPF enforcement (bpftrace, clang, bpftool, libbpf-dev). */
export const LAB_PACKAGES = [
  'docker.io',
  'iperf3',
  'sysbench',
  'debootstrap',
  'iproute2',
  'util-linux',
  'iptables',
  'bpftrace',
  'clang',
  'bpftool',
  'libbpf-dev',
];

export type Runner = (argv: string[]) => Promise<string>;

export async function missingPackages(runner: Runner, packages: string[]): Promise<string[]> {
  // One dpkg-query for all: a package it does not know is missing too (it then exits 1, but still prints).
  let out = '';
  try {
    out = await runner(['dpkg-query', '-W', '-f=${Package} ${db:Status-Abbrev}\\n', ...packages]);
  } catch (err) {
    out = (err as { stdout?: string }).stdout ?? '';
  }
  const installed = new Set(
    out
      .split('\n')
      .filter((l) => /\sii\s*$/.test(l))
      .map((l) => l.split(' ')[0]),
  );
  return packages.filter((p) => !installed.has(p));
}

/** Check, and as root install, what is missing. `where`: this machine or `host X`, for the messages. */
export async function ensurePackages(
  runner: Runner,
  opts: { root: boolean; where: string; say: Say; packages?: string[] },
): Promise<string[]> {
  const packages = opts.packages ?? LAB_PACKAGES;
  const missing = await missingPackages(runner, packages);
  if (missing.length === 0) return [];
  if (!opts.root)
    throw new PrerequisiteError(
      `needs root to install ${missing.join(', ')} (run as root, or: apt-get install -y ${missing.join(' ')})`,
      opts.where,
    );
  opts.say(`${opts.where}: installing ${missing.join(', ')} from Debian's packages`);
  await runner(['apt-get', 'update', '-q']);
  await runner(['env', 'DEBIAN_FRONTEND=noninteractive', 'apt-get', 'install', '-y', '-q', ...missing]);
  const still = await missingPackages(runner, missing);
  if (still.length) throw new PrerequisiteError(`apt-get did not install ${still.join(', ')}`, opts.where);
  return missing;
}
