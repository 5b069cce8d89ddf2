// Builds dist/memgov.mjs once before the suite: CLI tests run the real bundle.
import { buildBundle } from '../../build.mjs';

export default async function setup(): Promise<void> {
  await buildBundle();
}
