import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // The IRON kernel suite builds a kernel (73 min cold on a 2-core VM) and boots it in QEMU: run on its own
    // with `npm run test:kernel` until the build fits CI (testbed/kernel/README.md).
    exclude: ['**/node_modules/**', ...(process.env.IRONLAB_KERNEL_SUITE ? [] : ['test/lab/iron-kernel.test.ts'])],
    // End-to-end suites start agent processes and real daemons: give them time, and run files one by one
    // on these 2-core machines so that timing-sensitive suites do not starve each other.
    testTimeout: 120_000,
    hookTimeout: 120_000,
    fileParallelism: false,
    reporters: ['default'],
  },
});
