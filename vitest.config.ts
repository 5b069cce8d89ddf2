import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    globalSetup: ['test/support/global-setup.ts'],
    // Real-cgroup tests create and remove kernel objects: keep files from racing each other.
    fileParallelism: false,
    testTimeout: 20_000,
  },
});
