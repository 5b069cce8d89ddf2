// Bundles the CLI into one file, dist/memgov.mjs: node plus this file runs every command.
// Used by `npm run build` and by the test setup, so tests always exercise the current bundle.
import { build } from 'esbuild';
import { readFileSync } from 'node:fs';

const root = new URL('.', import.meta.url).pathname;

export async function buildBundle() {
  const { version } = JSON.parse(readFileSync(`${root}package.json`, 'utf8'));
  await build({
    entryPoints: [`${root}cli/entry.ts`],
    outfile: `${root}dist/memgov.mjs`,
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20.19',
    legalComments: 'none',
    define: { MEMGOV_VERSION: JSON.stringify(version) },
    // Some dependencies ship CommonJS that requires Node built-ins; give the ESM bundle a require.
    banner: {
      js: "import { createRequire as __memgovRequire } from 'node:module'; const require = __memgovRequire(import.meta.url);",
    },
    logLevel: 'warning',
  });
}

if (import.meta.url === `file://${process.argv[1]}`) await buildBundle();
