// The simulator's results are pinned: a speed-up or a refactoring of agents/sim must leave every sample of every
// paper-matrix run as it was (bit for bit). A model change changes the fingerprint on purpose: then update the
// pinned values here (and the full one, `npx tsx agents/sim/fingerprint.ts`, in agents/sim/README.md).
import { describe, expect, it } from 'vitest';
import { simFingerprint } from '../../agents/sim/fingerprint.ts';

describe('simulator fingerprint', () => {
  it('every paper-matrix run (0.5 s + 1.5 s, seed 1000, three modes) and the bench cell give the pinned samples', () => {
    expect(simFingerprint({ warmupS: 0.5, durationS: 1.5 })).toBe('e2cd55b4801cb696');
  });
  it('is deterministic: the same seeds give the same fingerprint twice', () => {
    const o = { warmupS: 0.1, durationS: 0.3 };
    expect(simFingerprint(o)).toBe(simFingerprint(o));
  });
});
