// The enforcement registry: every mode a campaign may name, in the order reports show them, each composed from
// the same four parts. The real enforcer (enforcer.ts) knows no mode: it starts the implementation of each part
// the strategy names; the simulator (sim/host-kernel.ts) picks its policy from the same composition; schemas, the CLI and the reports take
// the names from here. A new mode is one entry here, its policy in the simulator, and whatever new part it needs.
import { z } from 'zod';

/** The modes, control first: `none` is the baseline every other mode is compared against. */
export const ENFORCEMENTS = ['none', 'iron-kernel', 'ebpf'] as const;
export const Enforcement = z.enum(ENFORCEMENTS);
export type Enforcement = z.infer<typeof Enforcement>;

/** What a mode is made of. */
export interface EnforcementStrategy {
  readonly mode: Enforcement;
  /** One line, for `--help` and reports. */
  readonly summary: string;
  /**
   * The kernel's IRON switch (/proc/sys/kernel/iron_enabled) on for the run: the patched kernel charges each
   * packet's softirq time to its owner and drops a throttled owner's packets at the NIC.
   */
  readonly kernelSwitch: boolean;
  /**
   * eBPF accounting of softirq time by packet owner: `required` when the mode acts on it, `if-available` when
   * it is only recorded (the run goes on without it, and the provenance says why).
   */
  readonly accounting: 'required' | 'if-available';
  /** The controller (controller.ts) rewrites cpu.cfs_quota_us once per period: owners charged, the interrupted credited. */
  readonly charging: boolean;
  /**
   * Who drops a throttled owner's packets: the patched kernel at the NIC, the eBPF drop program after the
   * driver (XDP, else tc ingress) as the controller flags owners, or nobody. Wherever accounting runs the drop
   * program is attached in every mode (passing everything unless flagged), so modes share one receive path.
   */
  readonly dropping: 'kernel' | 'ebpf' | 'none';
}

export const ENFORCEMENT_MODES: { readonly [M in Enforcement]: EnforcementStrategy & { mode: M } } = {
  none: {
    mode: 'none',
    summary: 'vanilla Linux: the interrupted task pays; softirq time is only accounted (when eBPF is available)',
    kernelSwitch: false,
    accounting: 'if-available',
    charging: false,
    dropping: 'none',
  },
  'iron-kernel': {
    mode: 'iron-kernel',
    summary: "the IRON kernel patch: each packet's time charged to its owner, a throttled owner's packets dropped at the NIC",
    kernelSwitch: true,
    accounting: 'if-available',
    charging: false,
    dropping: 'kernel',
  },
  ebpf: {
    mode: 'ebpf',
    summary: "eBPF: accounting, quota charging once per CFS period, and drops of a throttled owner's packets",
    kernelSwitch: false,
    accounting: 'required',
    charging: true,
    dropping: 'ebpf',
  },
};

/** The strategy of a mode. */
export function enforcementMode(mode: Enforcement): EnforcementStrategy {
  return ENFORCEMENT_MODES[mode];
}

/** `none | iron-kernel | ebpf`, for help texts and error messages. */
export const ENFORCEMENT_CHOICES = ENFORCEMENTS.join(' | ');
