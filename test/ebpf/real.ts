// Real eBPF suites need root, a kernel with BTF and the prerequisites (testbed/prereqs-ebpf.sh). In CI
// (CI=true, root) they always run — a missing prerequisite fails them. Elsewhere they run only when asked
// (IRONLAB_EBPF=1), and otherwise skip with a printed reason.
export const REAL = process.env.CI === 'true' || process.env.IRONLAB_EBPF === '1';

export function announceSkip(suite: string): void {
  if (!REAL) console.log(`[skip] ${suite}: real eBPF/netns test; runs in CI (CI=true, root) or with IRONLAB_EBPF=1 as root`);
}
