// idle: a neighbour that does nothing (its container sleeps through the run). The control of a latency victim:
// beside a CPU-bound control (sysbench) a latency victim's tail is set by waiting behind the hog on the shared
// core (CFS slices), so "p99 with network neighbours / p99 with sysbench neighbours" compares two kinds of
// interference and reads < 1 for any neighbour that uses less CPU than its quota. Beside an idle neighbour the
// penalty is what the neighbour costs at all; a sysbench arm in the same campaign is then the reference for
// plain CPU contention at the neighbour's quota. Not modelled by the simulated kernel (its control is sysbench).
import { type Workload } from './workload.ts';

export const idle = {
  kind: 'idle',
  description: 'an idle neighbour (sleeps through the run): the control of a latency victim',
  packages: [],
  neighbour: {
    // Asleep through the window however late it opens: interrupted at its end, bounded by boundS.
    plan: (ctx, i) => [
      {
        name: `neighbour-${i}`,
        shape: 'neighbour',
        argv: ['sleep', String(Math.ceil(ctx.boundS))],
        program: 'sleep',
        stopAtWindowEnd: true,
      },
    ],
    network: null,
  },
  sim: { refusal: 'the simulated kernel compares with the sysbench control only (no idle neighbour model)' },
} satisfies Workload<'idle'>;
