import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // The IRON kernel suite builds a kernel (cold: tens of minutes on a 2-core machine, cached: seconds) and
    // boots it in QEMU: part of `npm test` in CI (CI=true; .ci/run installs testbed/prereqs-kernel.sh first) and
    // with IRONLAB_KERNEL_SUITE=1 (`npm run test:kernel`); left out of a developer's plain `npm test`.
    exclude: ['**/node_modules/**', ...(process.env.IRONLAB_KERNEL_SUITE || process.env.CI ? [] : ['test/lab/iron-kernel.test.ts'])],
    // End-to-end suites start agent processes and real daemons: give them time, and run files one by one
    // on these 2-core machines so that timing-sensitive suites do not starve each other.
    testTimeout: 120_000,
    hookTimeout: 120_000,
    fileParallelism: false,
    reporters: ['default'],
  },
});
