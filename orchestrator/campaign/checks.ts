// The checks a campaign file's schema cannot say (spec.ts runs them on the normalised spec): hosts and their
// roles, cores, what the simulated kernel models, each victim's control arm, duplicate scenarios, filters and
// expectations that select nothing. Each problem names its place in the file.
import { DEFAULT_VICTIM } from '../../workloads/catalog.ts';
import { controlOf, neighbourRoleOf, simRefusal } from '../../workloads/registry.ts';
import { expandCells, type Cell } from './matrix.ts';
import { canonicalJson } from './hash.ts';
import { isDedicatedPeer, isServer, mergeSettings, type CampaignSpec, type RunSettings } from './model.ts';
import { formatPath, type Path, type Problem } from '../../workloads/common/yaml-problems.ts';
import { selectedScenarios, selectorText } from './expectations.ts';

export function checkSemantics(spec: CampaignSpec, locate: (path: Path) => string): { problems: Problem[]; warnings: string[] } {
  const problems: Problem[] = [];
  const warnings: string[] = [];
  const problem = (path: Path, message: string) => problems.push({ where: locate(path), message: `${formatPath(path)}: ${message}` });

  const seen = new Map<string, number>();
  spec.hosts.forEach((h, i) => {
    const first = seen.get(h.id);
    if (first !== undefined) problem(['hosts', i, 'id'], `host id '${h.id}' is already used by hosts[${first}]`);
    else seen.set(h.id, i);
    if (h.backend === 'docker' && h.profile !== null)
      problem(['hosts', i, 'profile'], 'a profile is for simulated hosts only (backend: sim)');
  });
  const servers = spec.hosts.filter(isServer);
  if (servers.length === 0) problem(['hosts'], "no host has the role 'server': every run needs one server host");
  const backends = new Set(servers.map((h) => h.backend));
  if (backends.size > 1) problem(['hosts'], 'server hosts mix sim and docker backends: runs on them would not be comparable');
  const profiles = new Set(servers.filter((h) => h.backend === 'sim').map((h) => h.profile));
  if (profiles.size > 1)
    problem(['hosts'], `server hosts use different sim profiles (${[...profiles].join(', ')}): runs on them would not be comparable`);
  // A dedicated peer host takes the traffic peers off the server; a host that is both may lease as either.
  const hasPeerHost = spec.hosts.some(isDedicatedPeer);
  if (spec.until && spec.until.maxRepetitions < spec.repetitions)
    problem(
      ['until', 'maxRepetitions'],
      `is ${spec.until.maxRepetitions}, below the ${spec.repetitions} planned repetitions (maxRepetitions caps them all)`,
    );

  // Settings per matrix entry: the merged shapes must make sense on one host.
  spec.matrix.forEach((entry, i) => {
    const s = mergeSettings(spec.defaults, entry.overrides);
    const at: Path = entry.overrides.peer || entry.overrides.victim ? ['matrix', i] : ['defaults'];
    if (!hasPeerHost && s.peer.cpus.some((c) => s.victim.cpus.includes(c)))
      problem(
        [...at],
        `peer cpus [${s.peer.cpus}] overlap the victim's cpus [${s.victim.cpus}]; with no 'peer' host the traffic peers run beside the victim and must stay off its cores`,
      );
    // Simulated servers run only what the simulated kernel models; the workload module says why not.
    if (backends.has('sim')) {
      const victimAt: Path = entry.overrides.victim?.workload ? ['matrix', i, 'victim', 'workload'] : ['defaults', 'victim', 'workload'];
      const victimRefused = simRefusal([s.victim.workload ?? DEFAULT_VICTIM]);
      if (victimRefused) problem(victimAt, victimRefused);
      const neighbourRefused = simRefusal([entry.workload]);
      if (neighbourRefused) problem(['matrix', i, 'workload'], neighbourRefused);
    }
    if (neighbourRoleOf(entry.workload).network === null && (entry.rateGbps || entry.flows || entry.messageBytes))
      problem(['matrix', i], `${entry.workload} takes no rateGbps, flows or messageBytes`);
    entry.messageBytes?.forEach((bytes, j) => {
      if (entry.workload.startsWith('udp') && bytes > 65507)
        problem(['matrix', i, 'messageBytes', j], `a UDP datagram holds at most 65507 bytes, got ${bytes}`);
    });
  });

  // The expanded matrix: duplicates, emptiness, and a control arm for every enforcement mode.
  const cells = expandCells(spec);
  const byScenario = new Map<string, Cell>();
  for (const cell of cells) {
    const prior = byScenario.get(cell.scenarioId);
    if (prior && prior.entryIndex !== cell.entryIndex)
      problem(
        ['matrix', cell.entryIndex],
        `repeats the scenario '${cell.scenarioId}' of matrix[${prior.entryIndex}] (add a distinct \`label:\` if the settings differ)`,
      );
    else if (prior) problem(['matrix', cell.entryIndex], `lists the scenario '${cell.scenarioId}' twice`);
    else byScenario.set(cell.scenarioId, cell);
  }
  const kept = (enf: string, pred: (c: Cell) => boolean) => cells.some((c) => pred(c) && !c.excludedFor.includes(enf as never));
  // Each victim's penalties divide by its control arm (workloads/registry.ts controlOf: sysbench, or idle for a
  // latency victim), run beside the same victim.
  const victimOf = (c: Cell) => c.settings.victim.workload ?? DEFAULT_VICTIM;
  const isControl = (c: Cell) => c.workload === controlOf(victimOf(c));
  const controlFor = (cell: Cell) => (c: Cell) => isControl(c) && victimOf(c) === victimOf(cell);
  for (const victim of new Set(cells.map(victimOf))) {
    const control = controlOf(victim);
    const ofVictim = (pred: (c: Cell) => boolean) => (c: Cell) => victimOf(c) === victim && pred(c);
    const named = victim === DEFAULT_VICTIM ? '' : ` of the ${victim} victim`;
    if (!cells.some(ofVictim(isControl))) {
      problem(['matrix'], `no ${control} entry: penalties${named} need the ${control}-neighbour control (add \`- workload: ${control}\`)`);
      continue;
    }
    for (const enf of spec.enforcement) {
      if (
        kept(
          enf,
          ofVictim((c) => !isControl(c)),
        ) &&
        !kept(enf, ofVictim(isControl))
      )
        problem(
          ['exclude'],
          `the filters drop every ${control} control run${named} with enforcement ${enf}: its penalties could not be computed`,
        );
    }
  }
  // Every scenario's penalty divides by a control with the same run settings (quotas, cores, neighbours,
  // durations): a scenario without one is refused, naming it, rather than compared with another control.
  const missing = new Set<string>();
  for (const cell of cells) {
    if (isControl(cell) || missing.has(cell.scenarioId)) continue;
    const control = controlOf(victimOf(cell));
    for (const enf of spec.enforcement) {
      if (cell.excludedFor.includes(enf) || !kept(enf, controlFor(cell))) continue;
      if (kept(enf, (c) => controlFor(cell)(c) && sameSettings(c.settings, cell.settings))) continue;
      missing.add(cell.scenarioId);
      problem(
        ['matrix', cell.entryIndex],
        `scenario '${cell.scenarioId}' has no ${control} control with the same run settings${spec.enforcement.length > 1 ? ` under enforcement ${enf}` : ''} (quotas, cores, neighbours, durations): add a \`- workload: ${control}\` entry with the same settings and a \`label:\``,
      );
      break;
    }
  }
  if (!spec.enforcement.some((enf) => kept(enf, () => true))) problem(['exclude'], 'the filters drop every run');
  spec.expect?.forEach((e, i) => {
    if (selectedScenarios(e, cells, spec.enforcement).length === 0)
      problem(
        ['expect', i],
        `selects no scenario with a penalty (the matrix, its exclude filters and enforcement modes leave none matching ${selectorText(e)})`,
      );
  });
  return { problems, warnings };
}

/** Two cells run with the same settings: what a penalty's two arms must share. */
export function sameSettings(a: RunSettings, b: RunSettings): boolean {
  return canonicalJson(a) === canonicalJson(b);
}
