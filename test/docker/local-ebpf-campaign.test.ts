// `ironlab run local-ebpf`, the A/B of IRON's eBPF approximation on this machine, as a user runs it: the CLI,
// an agent with the docker backend, real containers, accounting under both modes, charging and drops under
// ebpf. It must give a penalty with a CI for both receiver floods under both modes, record where the softirq
// time went (attributed, charged, credited; the controller per period) in the store, and leave nothing: no
// container, network, tc filter, XDP program, bpffs pin, enforcement state file, changed quota or rps_cpus.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import Docker from 'dockerode';
import { describe, expect, it } from 'vitest';
import { RestoreLedger } from '../../agents/docker/restore-ledger.ts';
import { enforcementCapabilities } from '../../agents/enforcement/capabilities.ts';
import { DEFAULT_STATE_DIR } from '../../agents/enforcement/state.ts';
import { METRIC } from '../../agents/samples.ts';
import { query } from '../e2e/helpers.ts';
import { runDockerCampaign } from './helpers/campaign.ts';
import { dockerReadiness } from './helpers/ready.ts';
import { changedRps, rpsValues } from './helpers/host-state.ts';

const { ready } = await dockerReadiness();
const ebpf = enforcementCapabilities().find((c) => c.mode === 'ebpf')!;
if (ready && !ebpf.available) {
  if (process.env.CI) throw new Error(`local-ebpf must run in CI, but eBPF is unavailable: ${ebpf.reason}`);
  console.warn(`skipping local-ebpf: ${ebpf.reason}`);
}

/** Every cfs quota under the cpu hierarchy (the containers' own cgroups go with them; the rest must not move). */
function quotas(dir = '/sys/fs/cgroup/cpu', out: Record<string, string> = {}): Record<string, string> {
  try {
    out[dir] = readFileSync(join(dir, 'cpu.cfs_quota_us'), 'utf8').trim();
    for (const e of readdirSync(dir, { withFileTypes: true })) if (e.isDirectory()) quotas(join(dir, e.name), out);
  } catch {
    // a cgroup removed while we walk
  }
  return out;
}

/** Devices with any tc filter of ours (pref 49, a BPF program named ironlab...), on either direction. */
function ironlabFilters(): string[] {
  const out: string[] = [];
  for (const dev of readdirSync('/sys/class/net')) {
    for (const dir of ['ingress', 'egress']) {
      let text = '';
      try {
        text = execFileSync('tc', ['filter', 'show', 'dev', dev, dir], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
      } catch {
        continue; // no clsact, or the device went away
      }
      if (/ironlab/.test(text)) out.push(`${dev} ${dir}`);
    }
  }
  return out;
}

/** Host devices still running an XDP program of ours (its kernel name starts with ironlab). */
function ironlabXdp(): string[] {
  const links = JSON.parse(execFileSync('ip', ['-j', '-d', 'link', 'show'], { encoding: 'utf8' })) as {
    ifname: string;
    xdp?: { prog?: { name?: string } };
  }[];
  return links.filter((l) => (l.xdp?.prog?.name ?? '').startsWith('ironlab')).map((l) => l.ifname);
}

function ironlabPins(): string[] {
  const out: string[] = [];
  for (const dir of ['/sys/fs/bpf', '/sys/fs/bpf/tc/globals']) {
    if (existsSync(dir)) for (const f of readdirSync(dir)) if (f.startsWith('ironlab')) out.push(join(dir, f));
  }
  return out;
}

describe.skipIf(!ready || !ebpf.available)('ironlab run local-ebpf', () => {
  it('penalties with a 95% CI under none and ebpf, accounting samples in the store, nothing left behind', async () => {
    const rpsBefore = rpsValues();
    const quotasBefore = quotas();
    const { db, json } = await runDockerCampaign('local-ebpf');
    const arms = json.scenarios.map((s) => `${s.workload}/${s.enforcement}`).sort();
    expect(arms).toEqual(['tcp-receiver/ebpf', 'tcp-receiver/none', 'udp-receiver/ebpf', 'udp-receiver/none']);

    // Where the softirq time went, per mode: the receiving neighbour owns the flood's NET_RX time, the victim
    // is credited for what ran on its time, and the charge is marked applied only under ebpf.
    type Row = { enforcement: string; metric: string; labels_json: string; value: number };
    const rows = query<Row>(
      db,
      'SELECT r.enforcement, s.metric, s.labels_json, s.value FROM samples s JOIN runs r USING (campaign_id, run_id) WHERE r.workload != ?',
      'sysbench',
    );
    const sum = (enf: string, metric: string, want: Record<string, string>) =>
      rows
        .filter(
          (x) => x.enforcement === enf && x.metric === metric && Object.entries(want).every(([k, v]) => JSON.parse(x.labels_json)[k] === v),
        )
        .reduce((a, x) => a + x.value, 0);
    for (const [enf, applied] of [
      ['none', 'no'],
      ['ebpf', 'yes'],
    ] as const) {
      expect(sum(enf, METRIC.attributedSoftirqS, { container: 'neighbour-0', vec: 'NET_RX' })).toBeGreaterThan(0.05);
      expect(sum(enf, METRIC.chargedTimeS, { container: 'neighbour-0', enforced: applied })).toBeGreaterThan(0);
      expect(sum(enf, METRIC.creditedTimeS, { container: 'victim', enforced: applied })).toBeGreaterThan(0);
    }
    expect(
      rows.some(
        (x) => x.enforcement === 'ebpf' && x.metric === METRIC.packetsDropped && JSON.parse(x.labels_json).reason === 'ebpf_throttled',
      ),
    ).toBe(true);
    // Charging wrote quotas under ebpf (the run's provenance says how often), never under none.
    const prov = query<{ enforcement: string; provenance_json: string }>(
      db,
      'SELECT enforcement, provenance_json FROM runs WHERE workload != ?',
      'sysbench',
    ).map((x) => ({ enf: x.enforcement, p: JSON.parse(x.provenance_json) }));
    expect(prov.filter((x) => x.enf === 'ebpf').some((x) => x.p['charging.neighbour-0.quotaWrites'] > 0)).toBe(true);
    expect(
      prov
        .filter((x) => x.enf === 'none')
        .every((x) => x.p['charging.neighbour-0.quotaWrites'] === undefined && x.p.ebpfAccounting === 'on'),
    ).toBe(true);
    // The controller steps just after the kernel's period refill (the CPU-bound victim's timer always runs).
    expect(prov.filter((x) => x.enf === 'ebpf').map((x) => x.p['charging.victim.steps'])).toEqual(
      prov.filter((x) => x.enf === 'ebpf').map(() => 'aligned'),
    );
    // The same drop program on the peers' veths in both arms (XDP here; the provenance names the path).
    for (const x of prov) expect(x.p.dropPath, `${x.enf}`).toMatch(/^xdp:veth/);
    // What the controller did, period by period, under ebpf only.
    const periods = (enf: string) =>
      rows.filter(
        (x) => x.enforcement === enf && x.metric === METRIC.controllerQuotaUs && JSON.parse(x.labels_json).container === 'neighbour-0',
      );
    expect(periods('ebpf').length).toBeGreaterThanOrEqual(8 * 2 * 20); // 8 repetitions x 2 floods x ~30 periods
    expect(periods('none')).toEqual([]);

    const docker = new Docker();
    expect(await docker.listContainers({ all: true, filters: { label: ['ironlab.host=local-docker'] } })).toEqual([]);
    expect(await docker.listNetworks({ filters: { label: ['ironlab.host=local-docker'] } })).toEqual([]);
    expect(ironlabFilters()).toEqual([]);
    expect(ironlabXdp()).toEqual([]);
    expect(ironlabPins()).toEqual([]);
    expect(existsSync(DEFAULT_STATE_DIR) ? readdirSync(DEFAULT_STATE_DIR) : []).toEqual([]);
    expect(execFileSync('tc', ['qdisc', 'show'], { encoding: 'utf8' })).not.toMatch(/htb/);
    expect(new RestoreLedger('local-docker').entries()).toEqual([]);
    expect(changedRps(rpsBefore, rpsValues())).toEqual([]);
    const quotasAfter = quotas();
    for (const [dir, v] of Object.entries(quotasBefore)) if (dir in quotasAfter) expect(`${dir}=${quotasAfter[dir]}`).toBe(`${dir}=${v}`);
  }, 1_800_000); // 48 runs, each repeated at most twice when out of guard (~6 s an attempt)
});
