// `ironlab run [campaign]`: the main job. Loads and validates the campaign (before anything starts), starts
// the hub and the agents, drives the campaign machine, shows progress, and prints the penalty table.
// Ctrl-C aborts cleanly: runs in flight are torn down, completed runs stay in the store, exit code 130.
// After the table come the CI checks (the file's expectations, --baseline) and their exit code, 3 on a failure.
import { randomBytes } from 'node:crypto';
import { createWriteStream, existsSync, mkdirSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { createActor, waitFor } from 'xstate';
import type { RunSpec } from '../../agents/run-spec.ts';
import { loadProfile } from '../../agents/sim/profile.ts';
import { loadCampaign, hashSpec, type CampaignSpec, type LoadedCampaign } from '../../orchestrator/campaign/spec.ts';
import { expandCampaign } from '../../orchestrator/campaign/matrix.ts';
import { campaignDriver } from '../../orchestrator/machines/campaign-driver.ts';
import { AgentHub } from '../../orchestrator/hub/hub.ts';
import type { Store } from '../../orchestrator/store/store.ts';
import {
  openStore,
  removeSqliteFiles,
  storeExists,
  storeFlag,
  storeLocation,
  storeTarget,
  type StoreTarget,
} from '../../orchestrator/store/open-store.ts';
import { LocalAgents } from '../local-agents.ts';
import { testbedFor } from '../testbed-for.ts';
import { leaseHosts } from '../slurm-lease.ts';
import { CampaignFailedError, UserInputError } from '../../workloads/common/errors.ts';
import { createRunToken } from '../../orchestrator/run-token.ts';
import { ProgressView } from '../../orchestrator/progress.ts';
import { campaignSummary, renderSummary, type CampaignSummary } from '../../orchestrator/commands/summary.ts';
import { loadBaseline, type Baseline } from '../../orchestrator/commands/baseline.ts';
import { buildChecks, checkCases, checkCounts, checksJson, renderChecks, EXIT_CHECKS_FAILED } from '../../orchestrator/report/checks.ts';
import { junitXml } from '../../orchestrator/report/junit.ts';

export interface RunOptions {
  campaign?: string;
  /** SQLite file (`--db`); or give `store`. Neither: $IRONLAB_STORE, else ./ironlab.db. */
  db?: string;
  /** `--store`: a postgres:// URL or a SQLite file. */
  store?: string;
  resume?: string;
  json: boolean;
  progress: boolean;
  /** Orchestrator and agent logs. */
  log?: string;
  /** Extra flags for the agents the orchestrator starts (tests: short reaper grace). */
  agentArgs?: string[];
  hostWaitMs?: number;
  /** Called once the campaign id is known (tests use it to kill things mid-run). */
  onStarted?: (info: { campaignId: string; agents: LocalAgents; hub: AgentHub }) => void;
  /** `FILE|DB[:campaign-id]`: check every scenario against this stored campaign. */
  baseline?: string;
  /** Write the checks as JUnit XML here. */
  junit?: string;
  /** An inconclusive check (interval straddling a bound) passes instead of failing. */
  allowInconclusive?: boolean;
  /** A profile file (`ironlab calibrate --out`): every host of the campaign runs simulated with it. */
  simProfile?: string;
  /** Lease the hosts from Slurm (also when the campaign file has a `slurm:` block). */
  slurm?: boolean;
  /** Slurm partition (overrides the file's `slurm.partition`). */
  partition?: string;
}

export interface RunReport {
  exitCode: number;
  campaignId: string | null;
}

export async function runCampaign(opts: RunOptions): Promise<RunReport> {
  const target = storeTarget(opts);
  const again = storeFlag(target);
  const logPath = resolve(opts.log ?? (target.kind === 'sqlite' ? join(dirname(resolve(target.path)), 'ironlab.log') : 'ironlab.log'));
  const out = (line: string) => !opts.json && process.stdout.write(`${line}\n`);
  const startedAt = Date.now();
  if (opts.junit) checkJunitTarget(opts.junit);

  // ---- what to run: a new campaign (validated before anything is created) or the rest of an old one
  if (opts.simProfile && opts.resume) throw new UserInputError('--sim-profile applies to a new campaign, not to --resume', '--sim-profile');
  const loaded = opts.resume ? null : withSimProfile(loadCampaign(opts.campaign), opts.simProfile);
  let baseline: Baseline | null = loaded && opts.baseline ? await loadBaseline(opts.baseline, loaded.spec.name) : null;
  if (opts.resume && !storeExists(target)) throw new UserInputError('no result store here to resume from', storeLocation(target));
  const dbExisted = storeExists(target);
  const store = await openStore(target);
  /** Refused before the ledger existed (a missing prerequisite, no host, a busy testbed): leave no empty store. */
  const discardStore = async () => {
    await store.close();
    if (!dbExisted) removeSqliteFiles(target);
  };
  const planned = loaded
    ? planNew(loaded)
    : await planResume(store, opts.resume!, target).catch(async (err) => {
        await store.close();
        throw err;
      });
  const { campaignId, plan, source } = planned;
  // another orchestrator on this campaign (a shared store): refused before anything starts
  await store.claimCampaign(campaignId).catch(async (err) => {
    await store.close();
    throw err;
  });
  // ---- Slurm: the hosts are leased (queued behind other campaigns) and the campaign runs on the granted nodes.
  const slurmReq =
    opts.slurm || opts.partition || planned.spec.slurm
      ? { ...planned.spec.slurm, ...(opts.partition ? { partition: opts.partition } : {}) }
      : null;
  const lease = slurmReq
    ? await leaseHosts(
        planned.spec,
        {
          ...slurmReq,
          timeLimitMin: slurmReq.timeLimitMin ?? timeLimitMin(planned.spec, plan?.length ?? (await store.ledger(campaignId)).length),
        },
        campaignId,
        out,
      ).catch(async (err) => {
        await discardStore();
        throw err;
      })
    : null;
  const spec = lease?.spec ?? planned.spec;
  if (!loaded && opts.baseline) baseline = await loadBaseline(opts.baseline, spec.name); // resuming: the store existed
  if (loaded) for (const w of loaded.warnings) out(`warning: ${w}`);
  else out(`resuming campaign ${campaignId} (${spec.name})`);
  const log = createWriteStream(logPath, { flags: 'a' });
  log.setMaxListeners(0); // every local agent's stderr is piped into it
  const say = (line: string) => log.write(`${new Date().toISOString()} ${line}\n`);
  const hostIds = spec.hosts.map((h) => h.id);

  // ---- the testbed: a hub on loopback and one local agent per host. Hosts of a running `ironlab testbed`
  // come with their own agents, dialing the testbed's address: the hub binds there, with the testbed's token.
  const testbed = lease ? null : testbedFor(spec);
  if (testbed) out(`using the ${testbed.description}`);
  const runToken = createRunToken();
  const auth = testbed ?? runToken;
  const hub = new AgentHub({
    token: auth.token,
    expectedHosts: new Set(hostIds),
    bindHost: lease?.bindHost ?? testbed?.bindHost,
    port: testbed?.port,
  });
  const listened = await hub.listen().catch(async (err: NodeJS.ErrnoException) => {
    runToken.remove();
    await lease?.release();
    await discardStore();
    if (err.code === 'EADDRINUSE' && testbed)
      throw new UserInputError(
        `another ironlab run is using this testbed (its address ${testbed.bindHost}:${testbed.port} is taken); wait for it to end`,
        testbed.description,
      );
    throw err;
  });
  // Slurm's agents dial the address the nodes reach this machine at, on the port the hub took.
  const url = lease ? `ws://${lease.dialHost}:${new URL(listened).port}` : listened;
  const localHosts = lease ? [] : spec.hosts.filter((h) => !testbed?.hostIds.has(h.id));
  const agents = new LocalAgents({
    url,
    tokenFile: auth.file,
    hosts: localHosts.map((h) => ({ id: h.id, backend: h.backend })),
    stderr: log,
    extraArgs: opts.agentArgs,
  });
  hub.on('refused', (reason) => say(`hub refused a connection: ${reason}`));
  say(`campaign ${campaignId}: hub at ${url}, agents for ${hostIds.join(', ')}`);

  const driver = campaignDriver({
    campaignId,
    spec,
    store,
    hub,
    plan,
    source,
    logPath,
    say,
    hostWaitMs: opts.hostWaitMs,
    // Slurm's job steps start node by node, and local agents a few at a time on a possibly loaded machine; only a
    // remote testbed's agents, already running, must answer at once.
    hostStallMs: lease || localHosts.length ? 120_000 : 30_000,
    startAgents: () => {
      void agents.startPaced((h) => hub.connection(h) !== undefined);
      lease?.startAgents(url, auth.file, log, opts.agentArgs);
    },
  });
  const actor = createActor(driver.machine, { input: driver.input });
  hub.on('ready', (c) => {
    say(`agent ${c.hostId} ready (${c.backend}, ${c.version})`);
    actor.send({ type: 'HOST_READY', hostId: c.hostId });
  });
  hub.on('lost', (hostId, reason) => {
    say(`agent ${hostId} lost: ${reason}`);
    actor.send({ type: 'HOST_LOST', hostId, reason });
  });

  const progress = new ProgressView({ enabled: opts.progress && !opts.json, label: spec.name });
  actor.subscribe((snap) => {
    if (snap.matches('running') || snap.matches('aborting')) progress.update(snap.context.counts);
  });

  let interrupted = 0;
  const onSigint = () => {
    interrupted++;
    if (interrupted === 1) {
      progress.stop();
      process.stderr.write('\naborting: tearing down the runs in flight (Ctrl-C again to quit at once; completed runs are kept)\n');
      actor.send({ type: 'ABORT' });
    } else {
      process.stderr.write(`quitting now; resume with: ironlab run --resume ${campaignId} ${again}\n`);
      process.exit(130);
    }
  };
  process.on('SIGINT', onSigint);
  process.on('SIGTERM', onSigint);
  opts.onStarted?.({ campaignId, agents, hub });

  actor.start();
  const final = await waitFor(actor, (s) => s.status === 'done', { timeout: Infinity });
  process.off('SIGINT', onSigint);
  process.off('SIGTERM', onSigint);
  progress.stop();
  driver.stop();

  await driver.end(); // the hosts' campaign-lived containers go now, not after their idle timeout
  await agents.stop();
  await lease?.release();
  await hub.close();
  runToken.remove();

  const ctx = final.context;
  const state = final.value as 'done' | 'failed' | 'aborted';
  const created = (await store.campaign(campaignId)) !== undefined;
  if (created) await store.setCampaignStatus(campaignId, state);
  say(`campaign ${campaignId} ${state}${ctx.error ? `: ${ctx.error}` : ''}`);
  log.end();

  if (state === 'failed') {
    if (created) await store.close();
    else await discardStore();
    throw ctx.errorKind === 'input'
      ? new UserInputError(ctx.error ?? 'failed')
      : new CampaignFailedError(`campaign ${campaignId} failed: ${ctx.error} (agents and orchestrator log: ${logPath})`);
  }
  // a done campaign's last step analysed it (the machine's `analyse`): the same summary, with the status just set
  const analysed = state === 'done' ? (ctx.summary as CampaignSummary | null) : null;
  const summary = analysed ? { ...analysed, campaign: { ...analysed.campaign, status: state } } : await campaignSummary(store, campaignId);
  // an aborted campaign is not judged: its missing runs would read as inconclusive checks
  const checks = state === 'done' ? buildChecks(spec, summary, baseline, Boolean(opts.allowInconclusive)) : null;
  const checksFailed = checks ? checkCounts(checkCases(checks)).notOk > 0 : false;
  if (checks && opts.junit) mkdirSync(dirname(resolve(opts.junit)), { recursive: true });
  if (checks && opts.junit) writeFileSync(opts.junit, junitXml(summary.campaign, checks, (Date.now() - startedAt) / 1000));
  if (opts.json) process.stdout.write(JSON.stringify({ ...summary.json, ...(checks ? checksJson(checks) : {}) }, null, 2) + '\n');
  else {
    out(renderSummary(summary));
    if (ctx.failures.length) out(describeFailures(ctx.failures));
    const checkLines = checks ? renderChecks(checks, true) : '';
    if (checkLines) out(checkLines);
    if (state === 'aborted')
      out(`aborted after ${ctx.counts.done} of ${ctx.counts.total} runs; continue with: ironlab run --resume ${campaignId} ${again}`);
    out(`results: ${store.location} (campaign ${campaignId}); log: ${logPath}${checks && opts.junit ? `; JUnit: ${opts.junit}` : ''}`);
  }
  await store.close();
  return { exitCode: state === 'aborted' ? 130 : ctx.failures.length ? 1 : checksFailed ? EXIT_CHECKS_FAILED : 0, campaignId };
}

/** `--junit FILE`: refused before anything starts when it names a directory (a missing parent is made). */
function checkJunitTarget(file: string): void {
  if (existsSync(file) && statSync(file).isDirectory()) throw new UserInputError(`${file} is a directory, not a file`, '--junit');
}

interface Plan {
  spec: CampaignSpec;
  campaignId: string;
  /** The runs of a new campaign; null when resuming (the ledger has them). */
  plan: RunSpec[] | null;
  source: { path: string; text: string };
}

/**
 * `--sim-profile FILE`: the same campaign on simulated hosts with the file's profile (validated here, before
 * anything starts: a bad file is exit 2 naming it). The runs carry the file's absolute path as their profile.
 */
export function withSimProfile(loaded: LoadedCampaign, file: string | undefined): LoadedCampaign {
  if (!file) return loaded;
  const path = resolve(file);
  try {
    loadProfile(path);
  } catch (err) {
    throw new UserInputError(
      (err as Error).message.replace(`host profile file ${path}: `, '').replace(`host profile '${path}': `, ''),
      file,
    );
  }
  const spec: CampaignSpec = { ...loaded.spec, hosts: loaded.spec.hosts.map((h) => ({ ...h, backend: 'sim' as const, profile: path })) };
  return { ...loaded, spec, hash: hashSpec(spec) };
}

function planNew(loaded: LoadedCampaign): Plan {
  const campaignId = newCampaignId();
  return { spec: loaded.spec, campaignId, plan: expandCampaign(loaded.spec, campaignId), source: loaded.source };
}

async function planResume(store: Store, id: string, target: StoreTarget): Promise<Plan> {
  const row = await store.campaign(id);
  if (!row)
    throw new UserInputError(
      `no campaign '${id}' in ${store.location} (ironlab report --list ${storeFlag(target)} lists them)`,
      '--resume',
    );
  // a campaign stored before designs and guards existed ran shuffled, without guards
  const stored = row.spec as Partial<CampaignSpec>;
  const spec = {
    ...stored,
    design: stored.design ?? 'shuffled',
    guards: stored.guards ?? { achievedLoadTolerance: null, maxStealShare: null, maxForeignCpuShare: null },
  } as CampaignSpec;
  return { spec, campaignId: row.id, plan: null, source: { path: row.sourcePath, text: '' } };
}

/** Failures grouped by their error, so that one cause shared by many runs reads as one line. */
function describeFailures(failures: { runId: string; error: string }[]): string {
  const byError = new Map<string, string[]>();
  for (const f of failures) byError.set(f.error, [...(byError.get(f.error) ?? []), f.runId]);
  const lines = [...byError].map(
    ([error, runs]) =>
      `  ${runs.length} run(s): ${error}\n    (${runs.slice(0, 5).join(', ')}${runs.length > 5 ? `, and ${runs.length - 5} more` : ''})`,
  );
  return `${failures.length} run(s) failed for good:\n${lines.join('\n')}`;
}

/** The Slurm job's time limit when the file gives none: every run at every attempt, plus 10 minutes. */
function timeLimitMin(spec: CampaignSpec, runs: number): number {
  const perRunS = spec.defaults.warmupS + spec.defaults.durationS + 10;
  return Math.ceil((runs * perRunS * spec.maxAttempts) / 60) + 10;
}

function newCampaignId(): string {
  const t = new Date().toISOString().replace(/[-:]/g, '').replace('T', '-').slice(0, 15);
  return `c${t}-${randomBytes(2).toString('hex')}`;
}
