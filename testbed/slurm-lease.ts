// `ironlab run --slurm`: the campaign's hosts are leased from the lab's Slurm, not assumed free. One exclusive
// allocation holds them (salloc --exclusive, by name when the campaign names the cluster's nodes, else by count
// with the partition and node features as constraints); the campaign's agents run there as job steps (one srun
// per host, dialling this campaign's hub with this campaign's token); the allocation is released at the end, on
// Ctrl-C, and when the orchestrator dies: salloc's own command is `tail --pid=<orchestrator>`, which ends with
// it, and Slurm then ends the steps and runs each node's epilog (the agent's reaper). The job's time limit is
// the last resort. Jobs are named `ironlab`, with the campaign in their comment: `ironlab status` lists them.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { hostname } from 'node:os';
import type { CampaignSpec } from '../orchestrator/campaign/spec.ts';
import { PrerequisiteError, UserInputError } from '../workloads/common/errors.ts';
import { IRONLAB_BIN } from './local-agents.ts';
import { readState, testbedDir } from './state.ts';
import type { QueuedJob } from '../orchestrator/serve/scheduler-queue.ts';

export const JOB_NAME = 'ironlab';

export interface SlurmRequest {
  partition?: string;
  /** Slurm node features (`--constraint`), e.g. the NIC driver: `ixgbe`, `ice&docker`. */
  constraint?: string;
  timeLimitMin: number;
}

/** Where Slurm is: SLURM_CONF as set, else the emulated lab's own Slurm when one is up; and where agents dial. */
export function slurmContext(): { env: NodeJS.ProcessEnv; bindHost: string; dialHost: string; where: string } {
  const state = process.env.SLURM_CONF ? null : readState(testbedDir());
  if (state?.slurm)
    return {
      env: { ...process.env, SLURM_CONF: state.slurm.conf },
      bindHost: state.hub.host,
      dialHost: state.hub.host,
      where: `the testbed's Slurm (${state.slurm.conf})`,
    };
  // A real cluster: nodes reach this machine by its name (the hub authenticates every agent; nothing else is served).
  return {
    env: process.env,
    bindHost: '0.0.0.0',
    dialHost: hostname(),
    where: `Slurm (${process.env.SLURM_CONF ?? '/etc/slurm/slurm.conf'})`,
  };
}

function slurmCmd(argv: string[], env: NodeJS.ProcessEnv): string {
  try {
    return execFileSync(argv[0], argv.slice(1), { env, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 30_000 });
  } catch (err) {
    const e = err as NodeJS.ErrnoException & { stderr?: string };
    if (e.code === 'ENOENT')
      throw new PrerequisiteError(
        `Slurm's commands are not installed (${argv[0]}: not found; Debian: apt-get install slurm-client)`,
        'slurm',
      );
    const why =
      String(e.stderr ?? e.message)
        .trim()
        .split('\n')
        .filter(Boolean)
        .slice(-1)[0] ?? 'no output';
    throw new PrerequisiteError(
      `no Slurm answers here (${argv[0]}: ${why.replace(/^\w+: (error|fatal): /, '')}); set SLURM_CONF, or bring up the emulated lab's: ironlab testbed up --slurm`,
      'slurm',
    );
  }
}

/** Check Slurm and the request before anything is made: a controller answers, the partition exists. */
export function checkSlurm(req: SlurmRequest, env: NodeJS.ProcessEnv): { nodes: string[] } {
  const partitions = slurmCmd(['sinfo', '-h', '-o', '%P'], env)
    .split('\n')
    .map((p) => p.trim().replace(/\*$/, ''))
    .filter(Boolean);
  if (req.partition && !partitions.includes(req.partition))
    throw new UserInputError(
      `unknown Slurm partition '${req.partition}' (the cluster has: ${partitions.join(', ') || 'none'})`,
      '--partition',
    );
  const nodes = slurmCmd(['sinfo', '-h', '-N', '-o', '%N', ...(req.partition ? ['-p', req.partition] : [])], env)
    .split('\n')
    .map((n) => n.trim())
    .filter(Boolean);
  return { nodes: [...new Set(nodes)] };
}

/** The hosts to ask for: the campaign's own ids when they are the cluster's nodes, else as many as it has. */
export function hostRequest(spec: CampaignSpec, clusterNodes: string[]): { nodelist: string[] | null; count: number } {
  const ids = spec.hosts.map((h) => h.id);
  const named = ids.filter((id) => clusterNodes.includes(id));
  if (named.length === ids.length) return { nodelist: ids, count: ids.length };
  if (named.length > 0)
    throw new UserInputError(
      `hosts ${named.join(', ')} are nodes of the Slurm cluster but ${ids.filter((i) => !named.includes(i)).join(', ')} are not: name all of the campaign's hosts by node, or none (then any ${ids.length} nodes are leased)`,
      'hosts',
    );
  return { nodelist: null, count: ids.length };
}

/** The campaign on its leased nodes: host i is node i (the campaign's roles and backends stay with it). */
export function onNodes(spec: CampaignSpec, nodes: string[]): CampaignSpec {
  return { ...spec, hosts: spec.hosts.map((h, i) => ({ ...h, id: nodes[i] })) };
}

export interface SlurmLease {
  jobId: string;
  nodes: string[];
  spec: CampaignSpec;
  bindHost: string;
  dialHost: string;
  /** Start the campaign's agents as job steps, one per node. */
  startAgents(url: string, tokenFile: string, log: NodeJS.WritableStream, extraArgs?: string[]): void;
  /** Stop the agents (they reap) and release the allocation. Idempotent. */
  release(): Promise<void>;
}

/**
 * Ask Slurm for the campaign's hosts and wait until they are granted (queued behind other campaigns meanwhile).
 * Refusals (an impossible request, a bad constraint) are UserInputError naming Slurm's reason.
 */
export async function leaseHosts(
  spec: CampaignSpec,
  req: SlurmRequest,
  campaignId: string,
  say: (line: string) => void,
): Promise<SlurmLease> {
  const ctx = slurmContext();
  const { nodes: clusterNodes } = checkSlurm(req, ctx.env);
  const want = hostRequest(spec, clusterNodes);
  const argv = [
    'salloc',
    '--exclusive',
    `--nodes=${want.count}`,
    `--job-name=${JOB_NAME}`,
    `--comment=${spec.name} ${campaignId}`,
    `--time=${Math.max(1, Math.ceil(req.timeLimitMin))}`,
    ...(req.partition ? [`--partition=${req.partition}`] : []),
    ...(req.constraint ? [`--constraint=${req.constraint}`] : []),
    ...(want.nodelist ? [`--nodelist=${want.nodelist.join(',')}`] : []),
    // salloc's command: prints what was granted, then lives exactly as long as this orchestrator.
    // ($$ is the shell, and then tail: releasing ends it, and salloc gives the allocation back.)
    'sh',
    '-c',
    'echo "granted $SLURM_JOB_ID $SLURM_JOB_NODELIST $$"; exec tail --pid="$1" -f /dev/null',
    'ironlab-lease',
    String(process.pid),
  ];
  // Its own process group: a Ctrl-C at the terminal reaches us, and we release in order.
  const salloc = spawn(argv[0], argv.slice(1), { env: ctx.env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  let jobId: string | null = null;
  let stderr = '';
  const cancel = () => {
    if (jobId) spawnSyncQuiet(['scancel', jobId], ctx.env);
    try {
      process.kill(-salloc.pid!, 'SIGKILL');
    } catch {
      /* gone */
    }
  };
  // Until released: an orchestrator that exits (a second Ctrl-C, a crash) cancels its job on the way out.
  process.on('exit', cancel);
  salloc.stderr!.on('data', (b: Buffer) => {
    stderr += b.toString();
    const m = /job allocation (\d+)/.exec(stderr);
    if (m && !jobId) {
      jobId = m[1];
      if (/Pending/.test(stderr))
        say(`queued in Slurm as job ${jobId}: waiting for ${want.nodelist ? want.nodelist.join(', ') : `${want.count} host(s)`}`);
    }
  });
  const onSignal = () => {
    cancel();
    process.stderr.write(`\ninterrupted while queued: Slurm job ${jobId ?? '(not yet queued)'} cancelled\n`);
    process.exit(130);
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  let granted: { jobId: string; nodelist: string; holder: number };
  try {
    granted = await new Promise((resolve, reject) => {
      let out = '';
      salloc.stdout!.on('data', (b: Buffer) => {
        out += b.toString();
        const m = /^granted (\d+) (\S+) (\d+)$/m.exec(out);
        if (m) resolve({ jobId: m[1], nodelist: m[2], holder: Number(m[3]) });
      });
      salloc.on('error', (err: NodeJS.ErrnoException) =>
        reject(err.code === 'ENOENT' ? new PrerequisiteError("Slurm's salloc is not installed", '--slurm') : err),
      );
      salloc.on('exit', (code) => {
        const why =
          stderr
            .split('\n')
            .filter((l) => /error/i.test(l))
            .map((l) => l.replace(/^salloc: error: /, ''))
            .join('; ') || `salloc exited ${code}`;
        reject(new UserInputError(`Slurm refused the allocation: ${why}`, '--slurm'));
      });
    });
  } catch (err) {
    process.off('exit', cancel);
    cancel();
    throw err;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
  jobId = granted.jobId;
  const nodes = slurmCmd(['scontrol', 'show', 'hostnames', granted.nodelist], ctx.env)
    .split('\n')
    .map((n) => n.trim())
    .filter(Boolean);
  // By name: each campaign host on its own node; by count: in the campaign's order onto the granted nodes.
  const leased = want.nodelist ? spec : onNodes(spec, nodes);
  say(`Slurm job ${jobId} leases ${leased.hosts.map((h) => h.id).join(', ')} (exclusive)`);

  const steps: ChildProcess[] = [];
  let released: Promise<void> | null = null;
  return {
    jobId,
    nodes,
    spec: leased,
    bindHost: ctx.bindHost,
    dialHost: ctx.dialHost,
    startAgents(url, tokenFile, log, extraArgs = []) {
      for (const h of leased.hosts) {
        const agent = [
          process.execPath,
          IRONLAB_BIN,
          'agent',
          '--connect',
          url,
          '--token-file',
          tokenFile,
          '--backend',
          h.backend,
          '--host-id',
          h.id,
          '--reap-grace',
          '10',
          ...extraArgs,
        ];
        const srun = spawn(
          'srun',
          [`--jobid=${jobId}`, '--nodes=1', '--ntasks=1', `--nodelist=${h.id}`, '--job-name=ironlab-agent', '--quiet', '--', ...agent],
          { env: ctx.env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] },
        );
        srun.stdout!.pipe(log, { end: false });
        srun.stderr!.pipe(log, { end: false });
        steps.push(srun);
      }
    },
    release() {
      released ??= (async () => {
        // srun forwards SIGTERM to its agent, which reaps and exits; then the allocation goes.
        await Promise.all(steps.map((s) => stopChild(s, 'SIGTERM', 10_000)));
        // salloc's command ends, so salloc gives the allocation back; scancel makes sure of it.
        try {
          process.kill(granted.holder, 'SIGTERM');
        } catch {
          /* already gone */
        }
        spawnSyncQuiet(['scancel', jobId!], ctx.env);
        await stopChild(salloc, null, 15_000);
        for (const s of [salloc, ...steps]) for (const p of [s.stdout, s.stderr]) p?.destroy();
        process.off('exit', cancel);
      })();
      return released;
    },
  };
}

function spawnSyncQuiet(argv: string[], env: NodeJS.ProcessEnv): void {
  try {
    execFileSync(argv[0], argv.slice(1), { env, stdio: 'ignore', timeout: 10_000 });
  } catch {
    /* already gone */
  }
}

/** Wait for a child to exit (after `signal`, if given); SIGKILL its group after graceMs. */
function stopChild(child: ChildProcess, signal: NodeJS.Signals | null, graceMs: number): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve();
    child.once('exit', () => resolve());
    if (signal) child.kill(signal);
    setTimeout(() => {
      try {
        process.kill(-child.pid!, 'SIGKILL');
      } catch {
        /* gone */
      }
    }, graceMs).unref();
  });
}

/** ironlab's jobs in the Slurm queue (squeue), oldest first. */
export function slurmQueue(): QueuedJob[] {
  const { env } = slurmContext();
  const out = slurmCmd(['squeue', '-h', `--name=${JOB_NAME}`, '--sort=i', '-o', '%i|%u|%T|%M|%l|%D|%R|%k'], env);
  return out
    .split('\n')
    .filter(Boolean)
    .map((l) => {
      const [jobId, user, state, elapsed, timeLimit, nodes, where, ...comment] = l.split('|');
      return { jobId, user, state, elapsed, timeLimit, nodes, where, campaign: comment.join('|') };
    });
}

/** Is Slurm reachable at all here (for `ironlab status` with nothing to say otherwise). */
export function slurmConfigured(): boolean {
  return Boolean(process.env.SLURM_CONF) || Boolean(readState(testbedDir())?.slurm) || existsSync('/etc/slurm/slurm.conf');
}
