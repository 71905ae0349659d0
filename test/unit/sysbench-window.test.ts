// The victim's sysbench against a window that opens late, as on the QEMU lab under TCG: lab-iron, 2 Dec, attempt
// udp-receiver/ebpf that failed at 10:51:06 with "victim: no sysbench report inside the 4 s window". Its victim
// started at 10:50:34, and the window (warm-up 1 s, duration 4 s) opened at 10:51:01, when both guests had
// warmed up (lab-1's enforcer start, lab-2's flood start): 27 s instead of 1. The log is what sysbench prints with
// the argv the run plans, stamped as the agent stamps a line (the time it arrives), read at the window's end.
import { describe, expect, it } from 'vitest';
import { plan } from '../../agents/backends/docker-backend.ts';
import { bridgeAddresses } from '../../agents/docker/traffic-network.ts';
import { testRun } from '../fakes/fake-backend.ts';
import { NEIGHBOUR_KINDS, VICTIM_KINDS } from '../../workloads/registry.ts';
import { latestWindowEndS } from '../../agents/phase-allowance.ts';

const at = (iso: string) => Date.parse(iso);

/** sysbench's 1 s reports from `startMs` while it runs: until its own --time, or until the agent stops it. */
function sysbenchLog(argv: string[], startMs: number, stoppedMs: number, eps = 130): string {
  const timeS = Number(argv.find((a) => a.startsWith('--time='))!.slice('--time='.length));
  const lines: string[] = [];
  for (let s = 1; s <= timeS && startMs + s * 1000 <= stoppedMs; s++)
    lines.push(`${new Date(startMs + s * 1000 + 3).toISOString()} [ ${s}s ] thds: 1 eps: ${eps.toFixed(2)} lat (ms,95%): 9.91`);
  return lines.join('\n') + '\n';
}

describe("the victim's sysbench and a window that opens late", () => {
  const run = testRun({ workload: 'udp-receiver', params: { rateGbps: 0.02 }, warmupS: 1, durationS: 4 });
  const victim = plan(run, bridgeAddresses('169.254.7.')).find((c) => c.name === 'victim')!;
  const started = at('2026-12-02T10:50:34.000Z');
  const window = { startMs: at('2026-12-02T10:51:01.000Z'), endMs: at('2026-12-02T10:51:05.000Z') };

  it('still reports through the whole window, and the run gets its events/s', () => {
    // stopped where the agent stops it: at the window's end when the plan says so, else at collect (~1 s later)
    const stopped = victim.stopAtWindowEnd ? window.endMs + 50 : window.endMs + 1000;
    const got = victim.collect!('victim', sysbenchLog(victim.spec.argv, started, stopped), window);
    expect(got).toEqual([{ metric: 'victim_events_per_sec', value: 130, unit: 'events/s', labels: { container: 'victim' } }]);
  });

  it('gives no figure when its reports end inside the window, instead of a mean over part of it', () => {
    // a window 8 s after the start, sysbench gone 1 s into it (ended by its own clock, or killed): 3 s unreported
    const late = { startMs: started + 8000, endMs: started + 12_000 };
    const got = victim.collect!('victim', sysbenchLog(victim.spec.argv, started, late.startMs + 1050), late);
    expect(got).toBeNull();
  });

  it("keeps the flood going through the window too (lab-2's client started at 10:50:51 in that attempt)", () => {
    const client = plan(run, bridgeAddresses('169.254.7.')).find((c) => c.name === 'peer-0')!;
    expect(client.program).toBe('iperf3-client');
    const timeS = Number(client.spec.argv[client.spec.argv.indexOf('--time') + 1]);
    expect(at('2026-12-02T10:50:51.000Z') + timeS * 1000).toBeGreaterThanOrEqual(window.endMs);
    expect(client.stopAtWindowEnd).toBe(true);
  });
});

/** The seconds a process bounds itself by, as each program spells it: sysbench --time=N, iperf3 --time N,
 *  sockperf -t N, coreutils' timeout N (the redis driver's backstop), sleep N. */
function ownBoundS(argv: string[]): number {
  const eq = argv.find((a) => a.startsWith('--time='));
  if (eq) return Number(eq.slice('--time='.length));
  const flag = argv.findIndex((a) => a === '--time' || a === '-t');
  if (flag >= 0) return Number(argv[flag + 1]);
  if (argv[0] === 'timeout' || argv[0] === 'sleep') return Number(argv[1]);
  throw new Error(`no time bound in ${argv.join(' ')}`);
}

describe('every workload against a window that opens late', () => {
  // Every victim with every neighbour: each process that is not a server (a server runs until teardown) is
  // stopped by the agent at the window's end, and bounds itself no earlier than the latest the window can end.
  const cases = VICTIM_KINDS.flatMap((v) => NEIGHBOUR_KINDS.map((n) => [v, n] as const));
  it.each(cases)('victim %s, neighbour %s: its clients run through the latest window', (victimKind, neighbourKind) => {
    const run = testRun({
      workload: neighbourKind,
      params: neighbourKind === 'sysbench' || neighbourKind === 'idle' ? {} : { rateGbps: 0.02, flows: 1 },
      warmupS: 1,
      durationS: 4,
      victim: { quotaUs: 50000, periodUs: 100000, cpus: [0], workload: victimKind },
    });
    const clients = plan(run, bridgeAddresses('169.254.7.')).filter((c) => !c.readyLine);
    expect(clients.length).toBeGreaterThan(0);
    for (const c of clients) {
      expect(c.stopAtWindowEnd, `${c.name} (${c.program}) is stopped at the window's end`).toBe(true);
      // sockperf's per-message record is allocated for its whole -t (workloads/sockperf.ts): run + 3 s only
      const bound = c.program === 'sockperf-client' ? run.warmupS + run.durationS + 3 : latestWindowEndS(run);
      expect(ownBoundS(c.spec.argv), `${c.name} (${c.program})`).toBeGreaterThanOrEqual(bound);
    }
  });
});
