import { defineConfig } from 'vitest/config';
import { BaseSequencer, type TestSpecification } from 'vitest/node';

const KERNEL_SUITE = 'test/lab/iron-kernel.test.ts';

/**
 * The IRON kernel suite goes last: in CI it waits for the kernel and guest root filesystem that .ci/run builds in
 * the background (nice 19, SCHED_IDLE) while everything else runs, so the build overlaps the other suites.
 */
class KernelSuiteLast extends BaseSequencer {
  override async sort(files: TestSpecification[]): Promise<TestSpecification[]> {
    const sorted = await super.sort(files);
    const kernel = (f: TestSpecification) => f.moduleId.endsWith(KERNEL_SUITE);
    return [...sorted.filter((f) => !kernel(f)), ...sorted.filter(kernel)];
  }
}

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // The IRON kernel suite builds (or reuses) a kernel and boots it in QEMU: it runs in CI (CI=true) and with
    // IRONLAB_KERNEL_SUITE=1 (`npm run test:kernel`), and says why it skips in a developer's plain `npm test`.
    exclude: ['**/node_modules/**'],
    sequence: { sequencer: KernelSuiteLast },
    // End-to-end suites start agent processes and real daemons: give them time, and run files one by one
    // on these 2-core machines so that timing-sensitive suites do not starve each other.
    testTimeout: 120_000,
    hookTimeout: 120_000,
    fileParallelism: false,
    reporters: ['default'],
  },
});
