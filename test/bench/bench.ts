// `npm run bench [-- --json] [part...]`: the one benchmark entry point. Each part measures what an issue
// promises (speed, overhead) and returns figures; people get a readable list, tools one JSON object.
// Parts: sim (simulated kernel speed, paper campaign wall time), wire (the agent channel's handshake and frame
// cost), docker (run overhead, agent CPU), ebpf (accounting cost per packet event, throughput loss with
// accounting on), repro (a real campaign run twice: interval widths, agreement, wall time; `--campaign NAME`,
// default local-docker), lab (one orchestrator, 64 simulated hosts, 5,120 runs), machines (the campaign and run
// machines alone, in one process), orchestrator (the orchestrator's own CPU on lab's campaign, and a profile's
// shares), slurm (two campaigns at once on the emulated lab under Slurm), iron (the IRON kernel's accounting cost
// in a QEMU lab host). docker, ebpf, repro, slurm and iron need root.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { IRONLAB_BIN } from '../../testbed/local-agents.ts';

type Figures = Record<string, number>;
interface Part {
  describe: string;
  run: () => Promise<Figures>;
  /** Targets the issues set: figure -> [comparison, bound]. */
  targets: Record<string, ['>=' | '<=', number]>;
}

const PARTS: Record<string, Part> = {
  sim: {
    describe: 'simulated host kernel: speed on the heaviest scenario, and the whole paper campaign end to end',
    targets: { simSpeedup: ['>=', 200], paperCampaignWallS: ['<=', 60] },
    run: async () => {
      const { benchSimSpeed } = await import('./sim-speed.ts');
      const { simSpeedup } = await benchSimSpeed();
      return { simSpeedup, paperCampaignWallS: paperCampaignWallS() };
    },
  },
  wire: {
    describe: 'agent channel: dial to authenticated both ways vs a bare WebSocket connect; handshake crypto; one frame sealed and opened',
    targets: {},
    run: async () => (await import('./wire-bench.ts')).benchWire(),
  },
  docker: {
    describe: 'docker backend: wall time a run adds to its measurement window, agent CPU during measurement',
    targets: { runOverheadS: ['<=', 1.5], agentCpuShare: ['<=', 0.01] },
    run: async () => (await import('./docker-bench.ts')).benchDocker(),
  },
  repro: {
    describe: 'a real campaign twice in a row (--campaign NAME, default local-docker): widest interval, disagreement, wall time',
    targets: { reproMaxCiHalfWidth: ['<=', 0.05], reproMaxCampaignDiff: ['<=', 0.1], reproCampaignWallS: ['<=', 600] },
    run: async () => (await import('./repro-bench.ts')).benchRepro({ campaign: campaignArg }),
  },
  lab: {
    describe:
      'one orchestrator at lab scale: 64 simulated hosts (agent processes), a campaign of 5,120 runs into SQLite; runs per wall second, orchestrator CPU per run and peak RSS, store bytes per run',
    targets: { orchestratorCpuMsPerRun: ['<=', 2], orchestratorRssMb: ['<=', 300] },
    run: async () => (await import('./lab-bench.ts')).benchLab(),
  },
  slurm: {
    describe:
      'the emulated lab under Slurm (4 hosts): testbed up --slurm and down timed, two small campaigns submitted at once vs one after the other, hosts running runs of both at once (from the stores), what is left after down',
    targets: { slurmHostOverlapViolations: ['<=', 0], slurmLeftoversAfterDown: ['<=', 0] },
    run: async () => (await import('./slurm-bench.ts')).benchSlurm(),
  },
  orchestrator: {
    describe:
      "the orchestrator's own CPU per run on the lab part's campaign (process.cpuUsage around runCampaign, in a process of its own; its agents apart), beside that process's whole CPU and its peak RSS, and where it goes: shares of a CPU profile of a 1,280-run campaign",
    targets: { orchestratorCpuMsPerRun: ['<=', 2], orchestratorRssMb: ['<=', 300] },
    run: async () => (await import('./orchestrator-bench.ts')).benchOrchestrator(),
  },
  machines: {
    describe:
      'the campaign and run machines alone, in one process: 64 hosts answering at once, 5,120 runs, no wire and no store; their CPU per run',
    targets: {},
    run: async () => (await import('./machines-bench.ts')).benchMachines(),
  },
  ebpf: {
    describe:
      'eBPF accounting: program run time per packet event (bpf_stats), iperf3 TCP throughput lost with it on; XDP drops: cost per dropped packet, and what one costs the victim core against a delivered one',
    targets: { ebpfNsPerPacket: ['<=', 250], ebpfThroughputLoss: ['<=', 0.03], ebpfVictimCoreDropCostShare: ['<=', 0.1] },
    run: async () => (await import('./ebpf-bench.ts')).benchEbpf(),
  },
  iron: {
    describe:
      'the IRON kernel in a QEMU lab host: iperf3 TCP floods into the guest with kernel.iron_enabled off and on, alternated pairs; throughput lost, guest CPU per packet added by the accounting, boot time',
    targets: {},
    run: async () => (await import('./iron-kernel-bench.ts')).benchIronKernel(),
  },
};

/** Wall seconds of `ironlab run` (the built-in paper campaign) from process start to exit. */
function paperCampaignWallS(): number {
  const dir = mkdtempSync(join(tmpdir(), 'ironlab-bench-'));
  try {
    const t0 = process.hrtime.bigint();
    const r = spawnSync(process.execPath, [IRONLAB_BIN, 'run', 'paper', '--db', join(dir, 'bench.db'), '--no-progress'], {
      stdio: ['ignore', 'pipe', 'pipe'],
      encoding: 'utf8',
    });
    const wall = Number(process.hrtime.bigint() - t0) / 1e9;
    if (r.status !== 0) throw new Error(`ironlab run paper failed (exit ${r.status}): ${r.stderr}`);
    return Math.round(wall * 100) / 100;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const args = process.argv.slice(2);
const json = args.includes('--json');
const campaignAt = args.indexOf('--campaign');
const campaignArg = campaignAt >= 0 ? args[campaignAt + 1] : undefined;
if (campaignAt >= 0 && (!campaignArg || campaignArg.startsWith('--'))) {
  process.stderr.write('bench: --campaign takes a campaign name or file\n');
  process.exit(2);
}
const wanted = args.filter((a, i) => !a.startsWith('--') && !(campaignAt >= 0 && i === campaignAt + 1));
const unknown = wanted.filter((p) => !(p in PARTS));
if (unknown.length) {
  process.stderr.write(`bench: unknown part(s) ${unknown.join(', ')}; parts: ${Object.keys(PARTS).join(', ')}\n`);
  process.exit(2);
}
// repro runs two real campaigns (minutes), slurm a whole Slurm lab, orchestrator lab's campaign again, iron a QEMU
// guest (and a kernel build when the cache misses): only when asked for by name
const ON_REQUEST = ['repro', 'slurm', 'orchestrator', 'iron'];
const chosen = wanted.length ? wanted : Object.keys(PARTS).filter((p) => !ON_REQUEST.includes(p));
const all: Figures = {};
let failed = false;
for (const name of chosen) {
  const part = PARTS[name];
  if (!json) process.stdout.write(`\n${name}: ${part.describe}\n`);
  try {
    const figures = await part.run();
    // lab and orchestrator both give orchestratorCpuMsPerRun (whole process vs runCampaign alone) and
    // orchestratorRssMb: a later part's figure of the same name is kept under `part:name`, not written over
    for (const [k, v] of Object.entries(figures)) all[k in all ? `${name}:${k}` : k] = v;
    if (!json)
      for (const [k, v] of Object.entries(figures)) {
        const t = part.targets[k];
        const ok = t ? (t[0] === '>=' ? v >= t[1] : v <= t[1]) : true;
        process.stdout.write(
          `  ${k.padEnd(20)} ${String(v).padStart(10)}   ${t ? `target ${t[0]} ${t[1]}  ${ok ? 'met' : 'MISSED'}` : ''}\n`,
        );
      }
  } catch (err) {
    failed = true;
    process.stderr.write(`bench ${name}: ${(err as Error).message}\n`);
  }
}
if (json) process.stdout.write(JSON.stringify(all) + '\n');
process.exitCode = failed ? 1 : 0;
