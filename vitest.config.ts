import { configDefaults, defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // The guest tests need the cgroup v2 guest (vitest.guest.config.ts, `npm run test:guest`).
    exclude: [...configDefaults.exclude, 'test/guest/**'],
    globalSetup: ['test/support/global-setup.ts'],
    // Real-cgroup tests create and remove kernel objects: keep files from racing each other.
    fileParallelism: false,
    testTimeout: 20_000,
  },
});
