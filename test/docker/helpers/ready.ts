// Whether the real-engine suites can run: root, a reachable dockerd, the workload image. In CI they must run
// (CI=true turns "not ready" into a failure); elsewhere they skip with the reason printed.
import { dockerReachable, findImage, imageTag } from '../../../workloads/image.ts';
import Docker from 'dockerode';

export async function dockerReadiness(): Promise<{ ready: boolean; reason: string }> {
  let reason = '';
  if (process.getuid?.() !== 0) reason = 'not root';
  else if (!(await dockerReachable())) reason = 'no dockerd reachable at /var/run/docker.sock';
  else if (!(await findImage(new Docker()))) reason = `the workload image ${imageTag()} is not built`;
  if (reason && process.env.CI) throw new Error(`docker suites must run in CI, but: ${reason}; run testbed/prereqs.sh first`);
  if (reason) console.warn(`skipping docker suites: ${reason} (run testbed/prereqs.sh as root to enable them)`);
  return { ready: !reason, reason };
}
