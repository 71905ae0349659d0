import { describe, expect, it } from 'vitest';
import { enforcementCapabilities, requireMode } from '../../agents/enforcement/capabilities.ts';
import { PrerequisiteError } from '../../workloads/common/errors.ts';
import { REAL } from './real.ts';

describe('enforcement capabilities', () => {
  it('reports every mode, with a reason for each that cannot run', () => {
    const caps = enforcementCapabilities({ mount: REAL });
    expect(caps.map((c) => c.mode)).toEqual(['none', 'iron-kernel', 'ebpf']);
    expect(caps[0]).toEqual({ mode: 'none', available: true });
    for (const c of caps) if (!c.available) expect(c.reason).toMatch(/\w/);
    console.log('capabilities:', JSON.stringify(caps));
  });

  it('names the missing IRON switch on a stock kernel', () => {
    const iron = enforcementCapabilities({ procRoot: 'test/fixtures/proc-iron/stock' }).find((c) => c.mode === 'iron-kernel')!;
    expect(iron.available).toBe(false);
    expect(iron.reason).toContain('/proc/sys/kernel/iron_enabled');
    expect(() => requireMode('iron-kernel', { procRoot: 'test/fixtures/proc-iron/stock' })).toThrow(PrerequisiteError);
  });

  it.runIf(REAL)('CI hosts can run ebpf (tracefs and bpffs mounted if needed)', () => {
    const ebpf = enforcementCapabilities().find((c) => c.mode === 'ebpf')!;
    expect(ebpf.reason ?? '').toBe('');
    expect(ebpf.available).toBe(true);
  });
});
