// The orchestrator takes a run's result as the agent sent it only when the schema would return exactly that;
// everything else goes through the schema (and its errors), so what a user sees of a bad result is unchanged.
import { describe, expect, it } from 'vitest';
import { isExactRunResult, RunResultSchema } from '../../agents/protocol.ts';

const sample = { metric: 'victim_events_per_sec', value: 812.5, unit: 'events/s', labels: { container: 'victim' } };
const result = {
  runId: 'r1',
  samples: [sample, { metric: 'window_s', value: 0.2, unit: 's', labels: {} }],
  provenance: { seed: 7, a: 'x', b: null },
};
const wire = (x: unknown) => JSON.parse(JSON.stringify(x));

describe('a run result as the agent sent it', () => {
  it('is taken as it is when the schema would return it unchanged', () => {
    const r = wire(result);
    expect(isExactRunResult(r)).toBe(true);
    expect(RunResultSchema.parse(r)).toEqual(r);
  });

  it.each([
    ['an extra key on the result (the schema strips it)', { ...result, extra: 1 }, true],
    ['a sample without labels (the schema defaults them)', { ...result, samples: [{ metric: 'm', value: 1, unit: 'u' }] }, true],
    ['an extra key on a sample', { ...result, samples: [{ ...sample, extra: 1 }] }, false],
    ['an empty metric', { ...result, samples: [{ ...sample, metric: '' }] }, false],
    ['a long unit', { ...result, samples: [{ ...sample, unit: 'u'.repeat(21) }] }, false],
    ['a value that is not a number', { ...result, samples: [{ ...sample, value: '1' }] }, false],
    ['a label that is not a string', { ...result, samples: [{ ...sample, labels: { core: 1 } }] }, false],
    ['a provenance value that is an object', { ...result, provenance: { x: {} } }, false],
    ['samples that are not a list', { ...result, samples: {} }, false],
    ['no run id', { samples: [], provenance: {}, other: 1 }, false],
  ])('goes to the schema with %s', (_, r, schemaTakesIt) => {
    expect(isExactRunResult(wire(r))).toBe(false);
    expect(RunResultSchema.safeParse(wire(r)).success).toBe(schemaTakesIt);
  });
});
