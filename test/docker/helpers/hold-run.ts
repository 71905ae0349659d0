// A stand-in agent that sets up and starts a run, says "ready", and waits to be killed with -9: what a crashed
// agent leaves behind (with an enforcement mode as third argument: its quotas, tc filters and pins too).
// Used by the reaper tests.
import { DockerBackend } from '../../../agents/backends/docker-backend.ts';
import { testRun } from '../../fakes/fake-backend.ts';

const [hostId, workload, enforcement = 'none'] = process.argv.slice(2);
const backend = new DockerBackend({ hostId });
const run = testRun({
  runId: 'held',
  campaignId: 'c-crash',
  workload: workload as 'tcp-receiver',
  enforcement: enforcement as 'none',
  warmupS: 0,
  durationS: 30,
});
await backend.setup(run, new AbortController().signal);
await backend.warmup(run.runId, new AbortController().signal, () => {});
process.stdout.write('ready\n');
setInterval(() => {}, 1 << 30);
