// The campaign file: what a researcher writes (YAML), validated into a complete CampaignSpec before anything
// starts. Every mistake in a file is refused with ONE UserInputError that says file:line:col and what is wrong.
// Shape: a host pool, run defaults, a matrix of workloads x parameter lists, filters, enforcement modes,
// repetitions, a seed. The loader fills every default, so the validated spec (and its hash) says everything.
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { dirname, isAbsolute, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { LineCounter, parseDocument } from 'yaml';
import { z } from 'zod';
import { WORKLOAD_KINDS } from '../../workloads/catalog.ts';
import { VICTIM_KINDS } from '../../workloads/registry.ts';
import { ENFORCEMENTS } from '../../agents/enforcement/modes.ts';
import { UserInputError } from '../../workloads/common/errors.ts';
import { checkSemantics } from './checks.ts';
import { hashSpec } from './hash.ts';
import { HOST_ID_PATTERN } from '../../agents/protocol.ts';
import {
  BUILTIN_DEFAULTS,
  DEFAULT_GUARDS,
  DEFAULT_SIM_PROFILE,
  DESIGNS,
  isServer,
  mergeSettings,
  type CampaignSpec,
  type ExpectationSpec,
  type LoadedCampaign,
  type MatrixEntry,
} from './model.ts';
import { describeIssue, locator, refusal } from '../../workloads/common/yaml-problems.ts';
import { describeExpectation } from './expectations.ts';
import { BACKEND_KINDS, type BackendKind } from '../../agents/backends/registry.ts';

// ---------------------------------------------------------------------------------------------------------
// Field schemas, each with the message a researcher should read.

const wholeNumber = (min: number, max: number) => {
  const error = `expected a whole number from ${min} to ${max}`;
  return z.number({ error }).int({ error }).min(min, { error }).max(max, { error });
};
const seconds = (min: number, max: number, exclusiveMin = false) => {
  const error = `expected a number of seconds ${exclusiveMin ? 'above' : 'from'} ${min} ${exclusiveMin ? 'and up to' : 'to'} ${max}`;
  const base = z.number({ error });
  return (exclusiveMin ? base.gt(min, { error }) : base.min(min, { error })).max(max, { error });
};
/** A YAML scalar or a list of them; a scalar means a one-element list. */
const listOf = <T extends z.ZodType>(item: T, what: string) =>
  z.preprocess(
    (v) => (Array.isArray(v) ? v : v === undefined ? v : [v]),
    z.array(item, { error: `expected ${what} or a list of them` }).min(1, { error: `expected at least one ${what}` }),
  );

const CPU_MAX = 1023;
const cpuList = z
  .array(wholeNumber(0, CPU_MAX), { error: 'expected a list of core numbers, e.g. [0] or [0, 1]' })
  .min(1, { error: 'expected at least one core' })
  .refine((cpus) => new Set(cpus).size === cpus.length, { error: 'a core is listed twice' });

const rateError = 'expected a rate in Gbit/s above 0 and up to 400, or unlimited';
const rateGbps = z.union(
  [z.literal('unlimited'), z.null(), z.number({ error: rateError }).gt(0, { error: rateError }).max(400, { error: rateError })],
  { error: rateError },
);
const flows = wholeNumber(1, 256);
// Up to one UDP datagram (65507) for UDP workloads, 1 MiB writes for TCP; checked per workload below.
const messageBytes = wholeNumber(64, 1 << 20);
const workload = z.enum(WORKLOAD_KINDS, { error: `expected one of ${WORKLOAD_KINDS.join(', ')}` });
const enforcement = z.enum(ENFORCEMENTS, { error: `expected one of ${ENFORCEMENTS.join(', ')}` });

/** A container's CPU shape; in a file every field is optional and inherits from the level above. */
const ShapeOverride = z
  .object({
    quotaUs: wholeNumber(1000, 10_000_000),
    periodUs: wholeNumber(1000, 1_000_000),
    cpus: cpuList,
  })
  .partial()
  .strict();
const PeerOverride = z.object({ cpus: cpuList }).partial().strict();
/** The victim: its shape and the workload it runs (`victim: { workload: redis }`; sysbench when absent). */
const victimWorkload = z.enum(VICTIM_KINDS, { error: `expected one of ${VICTIM_KINDS.join(', ')}` });
const VictimOverride = z.object({ ...ShapeOverride.shape, workload: victimWorkload.optional() }).strict();

/** Everything a run inherits and a matrix entry may override. */
const RunSettingsFields = {
  warmupS: seconds(0, 600),
  durationS: seconds(0, 3600, true),
  neighbours: wholeNumber(1, 64),
  victim: VictimOverride,
  neighbour: ShapeOverride,
  peer: PeerOverride,
  nicCpus: cpuList,
};
const RunSettingsOverride = z.object(RunSettingsFields).partial().strict();

const guardFractionError = 'expected a fraction from 0 to 1 (e.g. 0.05), or null to turn this guard off';
const guardFraction = z
  .number({ error: guardFractionError })
  .min(0, { error: guardFractionError })
  .max(1, { error: guardFractionError })
  .nullable();

const HostFile = z
  .object({
    id: z.string({ error: 'expected a host id' }).regex(HOST_ID_PATTERN, {
      error: 'expected a host id of letters, digits, dot, dash or underscore',
    }),
    backend: z.enum(BACKEND_KINDS, { error: `expected ${BACKEND_KINDS.join(' or ')}` }),
    /** Simulated-kernel host profile; sim hosts only. Default `paper`. */
    profile: z.string({ error: 'expected a profile name' }).min(1).optional(),
    roles: listOf(z.enum(['server', 'peer'], { error: 'expected server or peer' }), 'role').optional(),
  })
  .strict();

const MatrixEntryFile = z
  .object({
    workload,
    /** Disambiguates two entries with the same workload and parameters (e.g. different quotas). */
    label: z
      .string({ error: 'expected a short label' })
      .regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,31}$/, {
        error: 'expected a short label of letters, digits, dot, dash or underscore',
      })
      .optional(),
    rateGbps: listOf(rateGbps, 'rate').optional(),
    flows: listOf(flows, 'flow count').optional(),
    messageBytes: listOf(messageBytes, 'message size').optional(),
    ...RunSettingsOverride.shape,
  })
  .strict();

/** The keys that select scenarios: `exclude:` filters and `expect:` entries match cells the same way. */
const SelectorFields = {
  workload: listOf(workload, 'workload').optional(),
  label: listOf(z.string(), 'label').optional(),
  rateGbps: listOf(rateGbps, 'rate').optional(),
  flows: listOf(flows, 'flow count').optional(),
  messageBytes: listOf(messageBytes, 'message size').optional(),
  enforcement: listOf(enforcement, 'enforcement').optional(),
};
const ExcludeFile = z
  .object(SelectorFields)
  .strict()
  .refine((f) => Object.keys(f).length > 0, { error: 'an empty filter would drop every run' });

/** A bound on one statistic of the penalty: `{ max: 1.10 }`, `{ min: 3 }` or both. */
const boundError = 'expected { max: N } and/or { min: N }, N a penalty from 0 to 1000';
const penaltyBound = z.number({ error: boundError }).min(0, { error: boundError }).max(1000, { error: boundError });
const BoundFile = z
  .object({ min: penaltyBound, max: penaltyBound }, { error: boundError })
  .partial()
  .strict()
  .refine((b) => b.min !== undefined || b.max !== undefined, { error: boundError })
  .refine((b) => b.min === undefined || b.max === undefined || b.min <= b.max, { error: 'min is above max: no penalty could pass' });
/** An expectation (CI check): scenarios selected as `exclude:` selects them, and bounds on their penalty. */
const ExpectFile = z
  .object({
    name: z.string({ error: 'expected a short sentence naming the claim' }).min(1).max(200).optional(),
    ...SelectorFields,
    mean: BoundFile.optional(),
    lower: BoundFile.optional(),
    upper: BoundFile.optional(),
  })
  .strict()
  .refine((e) => e.mean || e.lower || e.upper, { error: 'states no bound: give mean, lower or upper, e.g. upper: { max: 1.10 }' });

const CampaignFile = z
  .object({
    name: z.string({ error: 'expected a campaign name' }).regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/, {
      error: 'expected a campaign name of letters, digits, dot, dash or underscore (at most 64)',
    }),
    description: z.string({ error: 'expected a text' }).max(2000).optional(),
    hosts: z.array(HostFile, { error: 'expected a list of hosts' }).min(1, { error: 'expected at least one host' }),
    defaults: RunSettingsOverride.optional(),
    matrix: z
      .array(MatrixEntryFile, { error: 'expected a list of matrix entries' })
      .min(1, { error: 'expected at least one matrix entry' }),
    exclude: z.array(ExcludeFile, { error: 'expected a list of filters' }).optional(),
    enforcement: listOf(enforcement, 'enforcement mode').optional(),
    repetitions: wholeNumber(1, 1000).optional(),
    seed: wholeNumber(0, 2 ** 32 - 1).optional(),
    shuffle: z.boolean({ error: 'expected true or false' }).optional(),
    maxAttempts: wholeNumber(1, 20).optional(),
    /** Adaptive repetitions: add repetitions to a scenario until its 95% penalty interval is this tight. */
    until: z
      .object(
        {
          ciHalfWidth: z
            .number({ error: 'expected a penalty half-width above 0 and up to 10, e.g. 0.05' })
            .gt(0, { error: 'expected a penalty half-width above 0 and up to 10, e.g. 0.05' })
            .max(10, { error: 'expected a penalty half-width above 0 and up to 10, e.g. 0.05' }),
          maxRepetitions: wholeNumber(2, 1000),
        },
        { error: 'expected { ciHalfWidth: 0.05, maxRepetitions: 10 }' },
      )
      .strict()
      .optional(),
    /** CI checks: bounds on selected scenarios' penalties, checked after the analysis (expectations.ts). */
    expect: z.array(ExpectFile, { error: 'expected a list of expectations' }).optional(),
    /** blocked: each repetition a block (control + scenarios back to back, one host); shuffled: one random order. */
    design: z.enum(DESIGNS, { error: `expected ${DESIGNS.join(' or ')}` }).optional(),
    /** Run guards: a run out of them is marked with the reason and repeated (bounded by maxAttempts). */
    guards: z
      .object(
        {
          achievedLoadTolerance: guardFraction,
          maxStealShare: guardFraction,
          maxForeignCpuShare: guardFraction,
        },
        { error: 'expected { achievedLoadTolerance: 0.1, maxStealShare: 0.02, maxForeignCpuShare: 0.05 }' },
      )
      .partial()
      .strict()
      .optional(),
    /** Lease the hosts from Slurm (as `ironlab run --slurm`): partition, node features, job time limit. */
    slurm: z
      .object(
        {
          partition: z
            .string({ error: 'expected a partition name' })
            .regex(/^[A-Za-z0-9._-]{1,64}$/, { error: 'expected a partition name' })
            .optional(),
          constraint: z
            .string({ error: 'expected node features, e.g. ixgbe or ice&docker' })
            .regex(/^[A-Za-z0-9_.,&|*[\]()-]{1,200}$/, { error: 'expected node features, e.g. ixgbe or ice&docker' })
            .optional(),
          timeLimitMin: wholeNumber(1, 525600).optional(),
        },
        { error: 'expected { partition: P, constraint: FEATURES, timeLimitMin: N }' },
      )
      .strict()
      .optional(),
  })
  .strict();

// The validated spec's types and defaults live in model.ts, the checks a schema cannot say in checks.ts, the
// hash in hash.ts; importers of the loader see them here too.
export * from './model.ts';
export { sameSettings } from './checks.ts';
export { canonicalJson, hashSpec } from './hash.ts';

// ---------------------------------------------------------------------------------------------------------
// Loading.

const BUILTIN_DIR = join(dirname(fileURLToPath(import.meta.url)), 'builtin');
export const DEFAULT_CAMPAIGN = 'paper';

/** The names of the campaigns shipped in the package: every `*.yaml` in orchestrator/campaign/builtin/. */
function builtinCampaignNames(): string[] {
  if (!existsSync(BUILTIN_DIR)) return [];
  return readdirSync(BUILTIN_DIR)
    .filter((f) => f.endsWith('.yaml'))
    .sort()
    .map((f) => f.slice(0, -'.yaml'.length));
}

const builtinPath = (name: string) => join(BUILTIN_DIR, `${name}.yaml`);

/** The campaigns shipped in the package, with the description each file gives (`ironlab campaigns`). */
export function listBuiltinCampaigns(): { name: string; description: string; path: string }[] {
  return builtinCampaignNames().map((name) => {
    const path = builtinPath(name);
    let description = '';
    try {
      const js = parseDocument(readFileSync(path, 'utf8')).toJS() as { description?: unknown } | null;
      if (js && typeof js.description === 'string') description = js.description;
    } catch {
      // a broken built-in still lists; loading it says what is wrong
    }
    return { name, description, path };
  });
}

/**
 * Loads a campaign from a file path or a built-in name (`paper`, `smoke`, ...). With no argument: `paper`.
 * Throws one UserInputError (file:line:col: what is wrong) for anything invalid; nothing has started then.
 */
export function loadCampaign(pathOrName: string = DEFAULT_CAMPAIGN): LoadedCampaign {
  const path = resolveCampaignPath(pathOrName);
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new UserInputError(`cannot read the campaign file: ${(err as NodeJS.ErrnoException).code ?? String(err)}`, displayPath(path));
  }
  return parseCampaign(text, path);
}

function resolveCampaignPath(pathOrName: string): string {
  const looksLikePath = /[\\/]/.test(pathOrName) || /\.ya?ml$/i.test(pathOrName);
  if (existsSync(pathOrName)) {
    if (statSync(pathOrName).isDirectory()) throw new UserInputError(`is a directory, not a campaign file`, pathOrName);
    return pathOrName;
  }
  // by file name only: parsing every built-in to resolve one name cost ~70 ms at each `ironlab run`
  const builtins = builtinCampaignNames();
  if (builtins.includes(pathOrName) && !looksLikePath) return builtinPath(pathOrName);
  const names = builtins.join(', ');
  if (looksLikePath) throw new UserInputError(`no such campaign file (built-in campaigns: ${names})`, pathOrName);
  throw new UserInputError(`unknown campaign '${pathOrName}': no such file and no built-in of that name (built-in campaigns: ${names})`);
}

function displayPath(path: string): string {
  const rel = relative(process.cwd(), path);
  return rel && !rel.startsWith('..') && !isAbsolute(rel) ? rel : path;
}

/** Parses and validates campaign text; `path` is only used in messages and in `source`. */
export function parseCampaign(text: string, path = 'campaign.yaml'): LoadedCampaign {
  const file = displayPath(path);
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: true, uniqueKeys: true });
  if (doc.errors.length > 0) {
    const problems = doc.errors.map((e) => {
      const pos = e.linePos?.[0];
      const where = pos ? `${file}:${pos.line}:${pos.col}` : file;
      return { where, message: `YAML syntax: ${e.message.split('\n')[0].replace(/ at line \d+, column \d+:?$/, '')}` };
    });
    throw refusal(problems);
  }
  let raw: unknown;
  try {
    raw = doc.toJS({ maxAliasCount: 1000 });
  } catch (err) {
    throw new UserInputError(`YAML: ${(err as Error).message}`, file);
  }
  if (raw === null || raw === undefined)
    throw new UserInputError('the file is empty: a campaign needs at least `name`, `hosts` and `matrix`', file);
  if (typeof raw !== 'object' || Array.isArray(raw))
    throw new UserInputError('expected a mapping of campaign keys (name, hosts, matrix, ...)', `${file}:1:1`);

  const locate = locator(doc, lineCounter, file);
  const parsed = CampaignFile.safeParse(raw, { reportInput: true });
  if (!parsed.success) throw refusal(parsed.error.issues.flatMap((issue) => describeIssue(issue, locate, CampaignFile)));

  const spec = normalize(parsed.data);
  const { problems, warnings } = checkSemantics(spec, (path) => locate(path).where);
  if (problems.length > 0) throw refusal(problems);
  return { spec, source: { path, text }, hash: hashSpec(spec), warnings };
}

type FileCampaign = z.infer<typeof CampaignFile>;

const toRates = (rates: ('unlimited' | null | number)[] | undefined) => rates?.map((r) => (r === 'unlimited' ? null : r));

function normalize(file: FileCampaign): CampaignSpec {
  const defaults = mergeSettings(BUILTIN_DEFAULTS, file.defaults);
  return {
    name: file.name,
    description: file.description ?? '',
    hosts: file.hosts.map((h) => ({
      id: h.id,
      backend: h.backend,
      profile: h.backend === 'sim' ? (h.profile ?? DEFAULT_SIM_PROFILE) : (h.profile ?? null),
      roles: h.roles ? [...new Set(h.roles)] : ['server'],
    })),
    defaults,
    matrix: file.matrix.map((m) => {
      const { workload, label, rateGbps, flows, messageBytes, ...overrides } = m;
      const entry: MatrixEntry = { workload, overrides };
      if (label !== undefined) entry.label = label;
      if (rateGbps !== undefined) entry.rateGbps = toRates(rateGbps);
      if (flows !== undefined) entry.flows = flows;
      if (messageBytes !== undefined) entry.messageBytes = messageBytes;
      return entry;
    }),
    exclude: (file.exclude ?? []).map((f) => {
      const { rateGbps, ...rest } = f;
      return rateGbps !== undefined ? { ...rest, rateGbps: toRates(rateGbps) } : rest;
    }),
    enforcement: [...new Set(file.enforcement ?? ['none' as const])],
    repetitions: file.repetitions ?? 3,
    seed: file.seed ?? 1,
    shuffle: file.shuffle ?? true,
    maxAttempts: file.maxAttempts ?? 3,
    design: file.design ?? (file.hosts.some((h) => h.backend === 'docker') ? 'blocked' : 'shuffled'),
    guards: { ...DEFAULT_GUARDS, ...file.guards },
    ...(file.until ? { until: { ciHalfWidth: file.until.ciHalfWidth, maxRepetitions: file.until.maxRepetitions } } : {}),
    ...(file.slurm ? { slurm: { ...file.slurm } } : {}),
    ...(file.expect ? { expect: file.expect.map((e, i) => normalizeExpectation(e, i)) } : {}),
  };
}

function normalizeExpectation(e: z.infer<typeof ExpectFile>, index: number): ExpectationSpec {
  const { name, rateGbps, ...rest } = e;
  const out: ExpectationSpec = { name: '', ...rest, ...(rateGbps !== undefined ? { rateGbps: toRates(rateGbps) } : {}) };
  out.name = name ?? describeExpectation(out, index);
  return out;
}

/** Where a campaign's runs run: the backend of its server hosts (`sim` | `docker`). */
export function campaignMode(spec: CampaignSpec): BackendKind {
  return spec.hosts.find(isServer)?.backend ?? 'sim';
}
