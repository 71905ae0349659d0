// The emulated lab's Slurm, as files: a munge key, a slurm.conf naming one node per emulated host (NodeName = the
// host id, NodeAddr = its link-local address, Features = its NIC's driver), a task prolog that gives a job step the
// node's own Docker engine and NIC, and an epilog that runs the agent's reaper on every node of an ending job.
// Everything lives in one directory of the testbed (removed by `down`); nothing is written under /etc.
import { randomBytes } from 'node:crypto';
import { chmodSync, mkdirSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { IRONLAB_BIN } from './local-agents.ts';
import type { TestbedHost } from './state.ts';

/** Ports of their own, so that the lab's Slurm never meets a Slurm the machine may already run (6817/6818). */
export const SLURMCTLD_PORT = 7817;
export const SLURMD_PORT = 7818;
export const SLURM_PARTITION = 'lab';

export interface SlurmFiles {
  dir: string;
  conf: string;
  mungeKey: string;
  mungeSocket: string;
  mungePid: string;
  mungeLog: string;
  mungeSeed: string;
  ctlPid: string;
  ctlLog: string;
  slurmdPid: (node: string) => string;
  slurmdLog: (node: string) => string;
  /** Where an emulated node's slurmd mounts its namespace's sysfs (as the lab agent does). */
  sysfs: (node: string) => string;
}

export function slurmFiles(testbedDir: string): SlurmFiles {
  const dir = join(testbedDir, 'slurm');
  return {
    dir,
    conf: join(dir, 'slurm.conf'),
    mungeKey: join(dir, 'munge', 'munge.key'),
    mungeSocket: join(dir, 'munge', 'munge.socket'),
    mungePid: join(dir, 'munge', 'munged.pid'),
    mungeLog: join(dir, 'munge', 'munged.log'),
    mungeSeed: join(dir, 'munge', 'munged.seed'),
    ctlPid: join(dir, 'slurmctld.pid'),
    ctlLog: join(dir, 'log', 'slurmctld.log'),
    slurmdPid: (node) => join(dir, `slurmd-${node}.pid`),
    slurmdLog: (node) => join(dir, 'log', `slurmd-${node}.log`),
    sysfs: (node) => join(dir, 'sysfs', node),
  };
}

export interface SlurmNode {
  host: TestbedHost;
  cpus: number;
  /** Node features: the NIC's driver (veth here; ixgbe, ice... in a real lab) and the host's backend. */
  features: string[];
  /** The host's Docker engine socket, for job steps and the epilog's reaper. */
  dockerSocket: string | null;
}

/** slurm.conf for the lab: root runs everything, whole nodes are leased (OverSubscribe=EXCLUSIVE), no cgroups. */
export function slurmConf(f: SlurmFiles, nodes: SlurmNode[], ctlAddress: string): string {
  const lines = [
    '# Written by `ironlab testbed up --slurm`; removed by `ironlab testbed down`.',
    'ClusterName=ironlab',
    // The controller is this machine (by its hostname), reached at the lab bridge's address.
    `SlurmctldHost=${hostname().split('.')[0]}(${ctlAddress})`,
    `SlurmctldPort=${SLURMCTLD_PORT}`,
    `SlurmdPort=${SLURMD_PORT}`,
    'SlurmUser=root',
    'SlurmdUser=root',
    'AuthType=auth/munge',
    'CredType=cred/munge',
    `AuthInfo=socket=${f.mungeSocket}`,
    `StateSaveLocation=${join(f.dir, 'ctld')}`,
    // %n: each node's slurmd has its own spool, pid file and log (several slurmds share this machine).
    `SlurmdSpoolDir=${join(f.dir, 'spool', '%n')}`,
    `SlurmctldPidFile=${f.ctlPid}`,
    `SlurmdPidFile=${join(f.dir, 'slurmd-%n.pid')}`,
    `SlurmctldLogFile=${f.ctlLog}`,
    `SlurmdLogFile=${join(f.dir, 'log', 'slurmd-%n.log')}`,
    // The emulated hosts share this machine's cgroups: Slurm must not manage them (the docker backend does).
    'ProctrackType=proctrack/linuxproc',
    'TaskPlugin=task/none',
    'SelectType=select/linear',
    'MpiDefault=none',
    'JobAcctGatherType=jobacct_gather/none',
    'AccountingStorageType=accounting_storage/none',
    'SwitchType=switch/none',
    'ReturnToService=2',
    // The nodes are what slurm.conf says (the emulated hosts all see the same cores; none is drained for it).
    'SlurmdParameters=config_overrides',
    'MinJobAge=5',
    'KillWait=5',
    `TaskProlog=${join(f.dir, 'task-prolog.sh')}`,
    `Epilog=${join(f.dir, 'epilog.sh')}`,
    ...nodes.map((n) => `NodeName=${n.host.id} NodeAddr=${n.host.address} CPUs=${n.cpus} Features=${n.features.join(',')} State=UNKNOWN`),
    `PartitionName=${SLURM_PARTITION} Nodes=ALL Default=YES MaxTime=INFINITE State=UP OverSubscribe=EXCLUSIVE`,
  ];
  return lines.join('\n') + '\n';
}

/** A job step's environment on its node (TaskProlog prints `export NAME=value`): the node's dockerd, NIC and container block. */
export function taskProlog(nodes: SlurmNode[]): string {
  return [
    '#!/bin/sh',
    "# ironlab testbed: a job step on an emulated host talks to that host's own Docker engine, and its NIC is eth0.",
    'case "$SLURMD_NODENAME" in',
    ...nodes.map(
      (n) =>
        `  ${n.host.id}) ${n.dockerSocket ? `echo "export DOCKER_HOST=unix://${n.dockerSocket}"; ` : ''}echo "export IRONLAB_NIC=eth0"${n.host.containerBlock ? `; echo "export IRONLAB_CONTAINER_BLOCK=${n.host.containerBlock}"` : ''} ;;`,
    ),
    'esac',
    '',
  ].join('\n');
}

/** At the end of every job, on each of its nodes: the agent's reaper removes whatever a run left there. */
export function epilog(nodes: SlurmNode[], node: string): string {
  return [
    '#!/bin/sh',
    '# ironlab testbed: reap what an ironlab agent left on this node (containers, networks, filters, cgroup values).',
    'case "$SLURMD_NODENAME" in',
    ...nodes
      .filter((n) => n.dockerSocket)
      .map(
        (n) =>
          `  ${n.host.id}) DOCKER_HOST=unix://${n.dockerSocket} ${node} ${IRONLAB_BIN} reap --backend docker --host-id "$SLURMD_NODENAME" >>"${'$'}{0%.sh}.log" 2>&1 ;;`,
      ),
    'esac',
    // A failing epilog drains the node in Slurm: logged (and the agent reaps on its own exit too), not fatal here.
    `[ $? = 0 ] || echo "$(date -Is) reap failed on $SLURMD_NODENAME (job $SLURM_JOB_ID)" >>"${'$'}{0%.sh}.log"`,
    'exit 0',
    '',
  ].join('\n');
}

/** Write the key and the files (the key first: 0400, 1024 random bytes, as munge's own `mungekey` makes). */
export function writeSlurmFiles(f: SlurmFiles, nodes: SlurmNode[], ctlAddress: string, node = process.execPath): void {
  for (const d of [f.dir, join(f.dir, 'munge'), join(f.dir, 'ctld'), join(f.dir, 'log'), join(f.dir, 'spool'), join(f.dir, 'sysfs')])
    mkdirSync(d, { recursive: true, mode: 0o700 });
  writeFileSync(f.mungeKey, randomBytes(1024), { mode: 0o400 });
  writeFileSync(f.conf, slurmConf(f, nodes, ctlAddress), { mode: 0o644 });
  writeFileSync(join(f.dir, 'task-prolog.sh'), taskProlog(nodes), { mode: 0o755 });
  writeFileSync(join(f.dir, 'epilog.sh'), epilog(nodes, node), { mode: 0o755 });
  chmodSync(f.dir, 0o755); // slurmd and job steps of other users read slurm.conf and the scripts
}
