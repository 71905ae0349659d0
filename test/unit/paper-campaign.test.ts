// The paper's set-up has one home (agents/sim/paper-defaults.ts): the built-in `paper` campaign file is generated
// from it, the simulator's calibration matrix expands the same matrix, and a file that says nothing inherits the
// same settings with one neighbour.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { PAPER_CAMPAIGN_PATH, paperCampaignYaml } from '../../orchestrator/campaign/builtin/paper.ts';
import { loadCampaign, parseCampaign } from '../../orchestrator/campaign/spec.ts';
import { expandCells } from '../../orchestrator/campaign/matrix.ts';
import { PAPER_SCENARIOS } from '../../agents/sim/paper-matrix.ts';
import { paperRunSpec } from '../../agents/sim/paper-defaults.ts';

describe('the paper set-up, in one place', () => {
  it('generates the built-in paper campaign file (regenerate: npx tsx orchestrator/campaign/builtin/paper.ts)', () => {
    expect(readFileSync(PAPER_CAMPAIGN_PATH, 'utf8')).toBe(paperCampaignYaml());
  });

  it('gives the campaign the settings and the scenarios the simulator calibrates with', () => {
    const { spec } = loadCampaign('paper');
    const run = paperRunSpec({ workload: 'sysbench' });
    expect(spec.defaults).toEqual({
      warmupS: run.warmupS,
      durationS: run.durationS,
      neighbours: 2,
      victim: run.victim,
      neighbour: run.neighbour,
      peer: run.peer,
      nicCpus: run.nicCpus,
    });
    expect(spec.defaults.victim.quotaUs).toBe(33333);
    const cells = expandCells(spec).filter((c) => c.workload !== 'sysbench');
    // the campaign fills in each flood's defaults (flows, message size); the calibration leaves them to the simulator
    expect(cells.map((c) => `${c.workload} ${c.params.rateGbps ?? 'unlimited'} ${c.params.flows}`)).toEqual(
      PAPER_SCENARIOS.map(([w, p]) => `${w} ${p.rateGbps ?? 'unlimited'} ${p.flows ?? 1}`),
    );
  });

  it('gives a campaign file that says nothing the same set-up with one neighbour: 50% quota each on core 0', () => {
    const { spec } = parseCampaign('name: t\nhosts: [{ id: h, backend: sim }]\nmatrix:\n  - workload: sysbench\n');
    expect(spec.defaults).toEqual({
      warmupS: 1,
      durationS: 5,
      neighbours: 1,
      victim: { quotaUs: 50000, periodUs: 100000, cpus: [0] },
      neighbour: { quotaUs: 50000, periodUs: 100000, cpus: [0] },
      peer: { cpus: [1] },
      nicCpus: [0],
    });
  });
});
