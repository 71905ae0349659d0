// Instructions of one fixed simulator run, for comparing engines on a loaded machine (wall time is not repeatable
// here; instruction counts are). The run: the speed benchmark's cell (test/bench/sim-speed.ts), seed 1, 1 s + 5 s,
// after the JIT was warmed on seeds 1-3. Only that run is counted: it runs inside [0].reduceRight, a builtin nothing
// else here calls, which callgrind switches collection on and off at. Under the machine lock:
//   valgrind --tool=callgrind --callgrind-out-file=/tmp/sim.cg --toggle-collect=Builtins_ArrayReduceRight \
//     node --single-threaded --import tsx test/bench/sim-instructions.ts
// ("Collected" is the count; --single-threaded keeps the JIT's work on this thread, so it is counted the same way
// each time). With --perf-basic-prof, /tmp/perf-<pid>.map names the JIT functions behind callgrind's bare addresses.
// With `--steady` after the script's name, seed 1 also runs twice before the counted run (the bench's way: a warm pass
// over the measured seed), so TurboFan has finished with it and the count is the engine's steady state; without it
// the count includes the compiler's work in that run (the figures in agents/sim/README.md up to session 10).
import { paperRunSpec } from '../../agents/sim/paper-defaults.ts';
import { simulateRun } from '../../agents/sim/simulate.ts';

const spec = (seed: number) =>
  paperRunSpec({ workload: 'tcp-receiver', params: { rateGbps: 9, flows: 8 }, enforcement: 'none', warmupS: 1, durationS: 5, seed });
for (let seed = 1; seed <= 3; seed++) simulateRun(spec(seed));
if (process.argv.includes('--steady')) for (let k = 0; k < 2; k++) simulateRun(spec(1));
let events = 0;
[0].reduceRight(() => {
  events = simulateRun(spec(1)).kernel.events;
  return 0;
}, 0);
console.log(`measured run: ${events} events`);
