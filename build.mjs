// Bundles the CLI into one file, dist/memgov.mjs: node plus this file runs every command.
// Used by `npm run build` and by the test setup, so tests always exercise the current bundle.
import { build } from 'esbuild';
import { lazyBuiltins } from './build-builtins.mjs';
import { chmodSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';

const root = new URL('.', import.meta.url).pathname;

export async function buildBundle() {
  const { version } = JSON.parse(readFileSync(`${root}package.json`, 'utf8'));
  const result = await build({
    write: false,
    entryPoints: [`${root}cli/entry.ts`],
    outfile: `${root}dist/memgov.mjs`,
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20.19',
    legalComments: 'none',
    // Minified: V8 parses and compiles less at start-up (measured: start-up RssAnon peak 12.9 ->
    // 11.8 MiB, steady RSS 48.0 -> 46.8 MiB). The source map beside it serves stack traces
    // (node --enable-source-maps); the bundle runs without it.
    minify: true,
    sourcemap: 'external',
    define: { MEMGOV_VERSION: JSON.stringify(version) },
    // Some dependencies ship CommonJS that requires Node built-ins; give the ESM bundle a require.
    banner: {
      js: "import { createRequire as __memgovRequire } from 'node:module'; const require = __memgovRequire(import.meta.url);",
    },
    plugins: [lazyBuiltins],
    logLevel: 'warning',
  });
  // Several test runs may build at once: each file is written aside and renamed into place, so a
  // running test never executes a half-written bundle.
  mkdirSync(`${root}dist`, { recursive: true });
  for (const file of result.outputFiles) {
    const temp = `${file.path}.${process.pid}.tmp`;
    writeFileSync(temp, file.contents);
    // The bundle has a shebang: executable, so ./dist/memgov.mjs and a symlink on PATH run it.
    if (file.path.endsWith('.mjs')) chmodSync(temp, 0o755);
    renameSync(temp, file.path);
  }
}

if (import.meta.url === `file://${process.argv[1]}`) await buildBundle();
