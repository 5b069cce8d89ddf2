import { defineConfig } from 'vitest/config';

// The cgroup v2 guest tests (docs/RELIABILITY.md, "Guest tests"): they run only inside the QEMU
// guest that `npm run test:guest` boots, where /sys/fs/cgroup is the guest's own cgroup2 mount.
// The host's root is read-only there: Vite's cache goes to the guest's tmpfs, and the config is
// loaded with `--configLoader runner` (the default bundler writes node_modules/.vite-temp).
export default defineConfig({
  cacheDir: '/tmp/memgov-guest-vite',
  test: {
    include: ['test/guest/**/*.guest.test.ts'],
    globalSetup: ['test/guest/global-setup.ts'],
    // The tests create kernel cgroups and measure reaction times on 2 emulated CPUs: one at a time.
    fileParallelism: false,
    // TCG emulation runs node ~5-10x slower than the host (a `node -e 0` takes 0.5-1.1 s).
    testTimeout: 120_000,
    hookTimeout: 60_000,
  },
});
