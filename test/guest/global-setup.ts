// Refuses to run the guest tests anywhere but inside the guest (scripts/guest/run-in-guest.sh):
// they create cgroups under /sys/fs/cgroup and must never write the host's.
import { existsSync, statfsSync } from 'node:fs';
import { BUNDLE } from '../support/cli.ts';

/** statfs f_type of a cgroup2 mount (CGROUP2_SUPER_MAGIC in linux/magic.h). */
const CGROUP2_SUPER_MAGIC = 0x63677270;

export default function setup(): void {
  if (process.env.MEMGOV_GUEST !== '1') {
    throw new Error(
      'the guest tests run only inside the cgroup v2 guest: use `npm run test:guest` (MEMGOV_GUEST is not 1)',
    );
  }
  const fsType = statfsSync('/sys/fs/cgroup').type;
  if (fsType !== CGROUP2_SUPER_MAGIC) {
    throw new Error(`/sys/fs/cgroup is not a cgroup2 mount (f_type 0x${fsType.toString(16)})`);
  }
  if (!existsSync(BUNDLE)) {
    throw new Error(`${BUNDLE} is missing: the guest cannot build it (run \`npm run build\`)`);
  }
}
