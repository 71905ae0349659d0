// Matrix expansion: a validated CampaignSpec -> the list of runs to do, each a complete RunSpec.
// cells (workload x cross product of its parameter lists) x enforcement x repetition, minus the excluded,
// in a seeded shuffled order (Flent style: drift and warm-up effects spread over all scenarios) or nested.
// Pure and deterministic: the same spec and campaign id give the same runs, ids, seeds and order.
import { createHash } from 'node:crypto';
import type { RunSpec } from '../../agents/run-spec.ts';
import { defaultMessageBytes, isNetworkWorkload, type ScenarioParams, type WorkloadKind } from '../../workloads/catalog.ts';
import { type Enforcement } from '../../agents/enforcement/modes.ts';
import { mulberry32 } from '../analysis/statistics.ts';
import { DEFAULT_SIM_PROFILE, isServer, mergeSettings, type CampaignSpec, type ExcludeFilter, type RunSettings } from './model.ts';

/** A run as planned: exactly what the run machine hands to an agent. The campaign machine fills
 *  `peer.hostId` (and, for sim hosts, may replace `profile`) when it leases the hosts. */
export type PlannedRun = RunSpec;

/** One scenario of the matrix before enforcement and repetition: a workload with explicit parameters. */
export interface Cell {
  /** Index of the matrix entry it comes from. */
  entryIndex: number;
  workload: WorkloadKind;
  label?: string;
  /** Explicit parameters: defaults filled (flows 1, catalog message size); rateGbps absent = unlimited. */
  params: ScenarioParams;
  /** Stable readable key: `sysbench`, `udp-sender unlimited`, `tcp-receiver rateGbps=9`, `tcp-sender flows=4`. */
  scenarioId: string;
  settings: RunSettings;
  /** Enforcement modes for which a filter drops this cell. */
  excludedFor: Enforcement[];
}

/** The scenarios of the matrix, in file order (entries, then rate, flows, message size). */
export function expandCells(spec: CampaignSpec): Cell[] {
  const cells: Cell[] = [];
  spec.matrix.forEach((entry, entryIndex) => {
    const network = isNetworkWorkload(entry.workload);
    const rates: (number | null | undefined)[] = entry.rateGbps ?? [undefined];
    const flowsList: (number | undefined)[] = entry.flows ?? [undefined];
    const sizes: (number | undefined)[] = entry.messageBytes ?? [undefined];
    const settings = mergeSettings(spec.defaults, entry.overrides);
    for (const rate of rates)
      for (const flows of flowsList)
        for (const size of sizes) {
          const params: ScenarioParams = {};
          if (typeof rate === 'number') params.rateGbps = rate;
          if (network) {
            params.flows = flows ?? 1;
            const bytes = size ?? defaultMessageBytes(entry.workload);
            if (bytes !== undefined) params.messageBytes = bytes;
          }
          // A victim other than sysbench names the scenario first: `redis: udp-receiver rateGbps=1`.
          const words: string[] = settings.victim.workload ? [`${settings.victim.workload}:`, entry.workload] : [entry.workload];
          if (rate !== undefined) words.push(rate === null ? 'unlimited' : `rateGbps=${rate}`);
          if (flows !== undefined) words.push(`flows=${flows}`);
          if (size !== undefined) words.push(`messageBytes=${size}`);
          if (entry.label) words.push(`[${entry.label}]`);
          const cell: Cell = { entryIndex, workload: entry.workload, params, scenarioId: words.join(' '), settings, excludedFor: [] };
          if (entry.label) cell.label = entry.label;
          cell.excludedFor = spec.enforcement.filter((enf) => spec.exclude.some((f) => matches(f, cell, enf)));
          cells.push(cell);
        }
  });
  return cells;
}

/** A filter drops a cell (under one enforcement mode) when every key it gives matches. */
export function matches(filter: ExcludeFilter, cell: Pick<Cell, 'workload' | 'label' | 'params'>, enforcement: Enforcement): boolean {
  if (filter.workload && !filter.workload.includes(cell.workload)) return false;
  if (filter.label && (cell.label === undefined || !filter.label.includes(cell.label))) return false;
  if (filter.rateGbps && (!isNetworkWorkload(cell.workload) || !filter.rateGbps.includes(cell.params.rateGbps ?? null))) return false;
  if (filter.flows && (cell.params.flows === undefined || !filter.flows.includes(cell.params.flows))) return false;
  if (filter.messageBytes && (cell.params.messageBytes === undefined || !filter.messageBytes.includes(cell.params.messageBytes)))
    return false;
  if (filter.enforcement && !filter.enforcement.includes(enforcement)) return false;
  return true;
}

/**
 * Every run of the campaign, in execution order. Nested order (shuffle: false) is repetition, then matrix
 * cell, then enforcement (file order); shuffle: true permutes that list with a PRNG seeded by the campaign seed.
 * runId = position (1-based, zero-padded) + a short hash of (campaignId, scenario, enforcement, repetition).
 * seed = hash of (campaign seed, scenario, enforcement, repetition): independent of order and campaign id,
 * so the same run in a rerun of the same file gets the same seed.
 */
export function expandCampaign(spec: CampaignSpec, campaignId: string): PlannedRun[] {
  const cells = expandCells(spec);
  const nested: Planned[] = [];
  for (let repetition = 0; repetition < spec.repetitions; repetition++)
    for (const cell of cells)
      for (const enforcement of spec.enforcement)
        if (!cell.excludedFor.includes(enforcement)) nested.push({ cell, enforcement, repetition });

  const order =
    (spec.design ?? 'shuffled') === 'blocked'
      ? blockOrder(spec, nested, `${spec.seed}`)
      : spec.shuffle
        ? shuffled(nested, hash32(`shuffle\0${spec.seed}`))
        : nested;
  const width = Math.max(4, String(order.length).length);
  return order.map((p, index) => planRun(spec, campaignId, p, String(index + 1).padStart(width, '0')));
}

/** A request for more repetitions of one arm (adaptive repetitions, `until:` in the campaign file). */
export interface ExtraRepetitions {
  scenarioId: string;
  enforcement: Enforcement;
  /** The repetition numbers to add (continuing after the ones the ledger has). */
  repetitions: number[];
}

/**
 * More runs of cells the campaign already has, planned exactly as expandCampaign plans them (same seeds for the
 * same scenario, enforcement and repetition), numbered after the ledger's last run and shuffled per round.
 */
export function expandExtraRepetitions(
  spec: CampaignSpec,
  campaignId: string,
  requests: readonly ExtraRepetitions[],
  firstIndex: number,
  round: number,
): PlannedRun[] {
  const cells = new Map(expandCells(spec).map((c) => [c.scenarioId, c]));
  const nested: Planned[] = [];
  for (const r of requests) {
    const cell = cells.get(r.scenarioId);
    if (!cell) throw new Error(`no matrix cell '${r.scenarioId}' in campaign ${spec.name}`);
    for (const repetition of r.repetitions) nested.push({ cell, enforcement: r.enforcement, repetition });
  }
  const order =
    (spec.design ?? 'shuffled') === 'blocked'
      ? blockOrder(spec, nested, `${spec.seed}\0round${round}`)
      : spec.shuffle
        ? shuffled(nested, hash32(`shuffle\0${spec.seed}\0round${round}`))
        : nested;
  return order.map((p, i) => planRun(spec, campaignId, p, String(firstIndex + i).padStart(4, '0')));
}

/**
 * Blocked design: a block is one repetition number (the control and every scenario of that repetition), run back
 * to back; blocks in repetition order, the runs inside a block in a random order seeded per block (nested order
 * with shuffle: false). The campaign machine keeps a block on one server host.
 */
function blockOrder(spec: CampaignSpec, nested: readonly Planned[], seedKey: string): Planned[] {
  const blocks = new Map<number, Planned[]>();
  for (const p of nested) blocks.set(p.repetition, [...(blocks.get(p.repetition) ?? []), p]);
  return [...blocks.keys()]
    .sort((a, b) => a - b)
    .flatMap((b) => (spec.shuffle ? shuffled(blocks.get(b)!, hash32(`block\0${seedKey}\0${b}`)) : blocks.get(b)!));
}

/** The block a run belongs to in a blocked design (its repetition number). */
export const blockOf = (run: Pick<PlannedRun, 'repetition'>): string => `block-${run.repetition}`;

/**
 * The run settings a penalty's two arms must share, as one canonical string: quotas and cpusets of every
 * container, neighbours, warm-up and window, peer and NIC cores.
 */
export function runSettingsKey(
  run: Pick<PlannedRun, 'neighbours' | 'warmupS' | 'durationS' | 'neighbour' | 'peer' | 'nicCpus'> & {
    victim: PlannedRun['victim'] & { workload?: string };
  },
): string {
  const shape = (c: { quotaUs: number; periodUs: number; cpus: number[] }) => [c.quotaUs, c.periodUs, c.cpus.join(',')].join('/');
  const victim = shape(run.victim) + (run.victim.workload ? ` ${run.victim.workload}` : '');
  return [run.neighbours, run.warmupS, run.durationS, victim, shape(run.neighbour), run.peer.cpus.join(','), run.nicCpus.join(',')].join(
    ' ',
  );
}

interface Planned {
  cell: Cell;
  enforcement: Enforcement;
  repetition: number;
}

function planRun(spec: CampaignSpec, campaignId: string, { cell, enforcement, repetition }: Planned, number: string): PlannedRun {
  const s = cell.settings;
  const key = `${cell.scenarioId}\0${enforcement}\0${repetition}`;
  return {
    runId: `${number}-${sha256(`${campaignId}\0${key}`).slice(0, 8)}`,
    campaignId,
    scenarioId: cell.scenarioId,
    repetition,
    workload: cell.workload,
    params: { ...cell.params },
    enforcement,
    neighbours: s.neighbours,
    warmupS: s.warmupS,
    durationS: s.durationS,
    victim: { ...s.victim, cpus: [...s.victim.cpus] },
    neighbour: { ...s.neighbour, cpus: [...s.neighbour.cpus] },
    peer: { cpus: [...s.peer.cpus] },
    nicCpus: [...s.nicCpus],
    seed: hash32(`${spec.seed}\0${key}`) >>> 1, // 31 bits: a positive int in every language's RNG API
    profile: spec.hosts.find((h) => isServer(h) && h.profile !== null)?.profile ?? DEFAULT_SIM_PROFILE,
  };
}

function sha256(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}
function hash32(text: string): number {
  return parseInt(sha256(text).slice(0, 8), 16);
}

/** Fisher-Yates with mulberry32: a small, well-known PRNG whose stream is identical on every platform. */
function shuffled<T>(items: readonly T[], seed: number): T[] {
  const out = [...items];
  const next = mulberry32(seed);
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(next() * (i + 1));
    [out[i], out[j]] = [out[j], out[i]];
  }
  return out;
}
