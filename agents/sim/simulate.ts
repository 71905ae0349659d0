// Run one scenario on the simulated host synchronously (tests, the bench, the `ironlab sim` command), or in
// chunks with a callback between them (the backend yields to the event loop there).
import type { RunSpec } from '../run-spec.ts';
import type { Sample } from '../samples.ts';
import { HostKernel, type KernelOptions, type TimelineBucket } from './host-kernel.ts';
import { loadProfile } from './profile.ts';
import { samplesFromSim } from './samples-from-sim.ts';

export interface SimResult {
  samples: Sample[];
  kernel: HostKernel;
  timeline: TimelineBucket[];
}

/** Simulate warm-up then the measurement window; returns the window's samples. */
export function simulateRun(spec: RunSpec, opts: KernelOptions = {}): SimResult {
  const kernel = new HostKernel(spec, loadProfile(spec.profile), opts);
  kernel.run(spec.warmupS * 1e9);
  const start = kernel.snapshot();
  kernel.run(spec.durationS * 1e9);
  const end = kernel.snapshot();
  return { samples: samplesFromSim(spec, start, end, kernel.cores), kernel, timeline: kernel.timeline };
}
