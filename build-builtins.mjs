// An esbuild plugin for the bundle (build.mjs): each Node built-in the code imports becomes a small
// module that takes it from `process.getBuiltinModule` on first use instead of an ESM `import`.
//
// Why (docs/BENCHMARKS.md, "Footprint within target"): an ESM import of a built-in loads it at
// start-up and builds its namespace, which runs every getter of the module (node:crypto's pulls in
// all of WebCrypto). The idle daemon never needs node:child_process, node:readline or
// node:stream, and needs node:crypto only for a hash. Measured on bare Node 20, 10 built-ins
// imported as ESM: start-up peak +4.7 MiB; taken with getBuiltinModule: +3.3 MiB; not loaded: 0.
import { builtinModules, createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const BUILTIN = new RegExp(
  `^(node:)?(${builtinModules.map((m) => m.replace('/', '\\/')).join('|')})$`,
);
const NAMESPACE = 'memgov-builtin';
const LAZY_NAMESPACE = 'memgov-lazy-package';
const ROOT = new URL('.', import.meta.url).pathname;

/**
 * The keys a forwarder must carry besides the call (`promisify.custom` on execFile,
 * `realpath.native`), as source text; null when one cannot be named (a symbol not from
 * Symbol.for).
 */
function extraKeys(value) {
  const keys = [];
  for (const key of Reflect.ownKeys(value)) {
    if (['length', 'name', 'prototype'].includes(key)) continue;
    if (typeof key === 'string') keys.push(JSON.stringify(key));
    else if (Symbol.keyFor(key) !== undefined)
      keys.push(`Symbol.for(${JSON.stringify(Symbol.keyFor(key))})`);
    else return null;
  }
  return keys;
}

/**
 * A function that is not a class can be forwarded: the wrapper loads the module on its first
 * call, and each of the function's own properties is a getter that loads it when read.
 */
function forwarder(name, value) {
  if (typeof value !== 'function') return null;
  if (/^class\b/.test(Function.prototype.toString.call(value))) return null;
  if (/^[A-Z]/.test(value.name)) return null;
  const keys = extraKeys(value);
  if (keys === null) return null;
  return [
    `export function ${name}(...args) { return load().${name}(...args); }`,
    ...keys.map(
      (key) => `Object.defineProperty(${name}, ${key}, { get: () => load().${name}[${key}] });`,
    ),
  ];
}

/** The module's source: forwarding functions, and pure lazy reads for everything else. */
function moduleSource(id) {
  const mod = require(id);
  const lines = [
    `let loaded;`,
    `const load = () => (loaded ??= process.getBuiltinModule(${JSON.stringify(id)}));`,
    `export default /* @__PURE__ */ load();`,
  ];
  // Only the names, not the values: reading a getter (crypto.webcrypto) here would be harmless,
  // but the descriptor tells which names are getters without running them.
  for (const name of Object.keys(mod)) {
    if (!/^[A-Za-z_$][\w$]*$/.test(name) || name === 'default') continue;
    const descriptor = Object.getOwnPropertyDescriptor(mod, name);
    const forwarded =
      descriptor !== undefined && 'value' in descriptor ? forwarder(name, descriptor.value) : null;
    lines.push(
      ...(forwarded ?? [`export const ${name} = /* @__PURE__ */ (() => load().${name})();`]),
    );
  }
  return lines.join('\n');
}

/**
 * Libraries the idle daemon does not run: yaml parses a YAML config file only (JSON and no file
 * need none of it), chokidar watches cgroup v2's memory.events only (v1 has no notifications).
 * Their ESM code would run its module set-up at start-up; taken through `require()` esbuild wraps
 * each in a lazy initialiser that runs on the first call. Measured (docs/BENCHMARKS.md): the idle
 * v1 daemon's RssAnon after start-up -0.8 MiB without yaml, -0.5 MiB without chokidar. Each name
 * is what the code imports; a class is built through `new` on the real one.
 */
const LAZY_PACKAGES = {
  yaml: { functions: ['parseDocument'], classes: ['LineCounter'] },
  chokidar: { functions: ['watch'], classes: [] },
};

function lazyPackageSource(name) {
  const { functions, classes } = LAZY_PACKAGES[name];
  return [
    `let loaded;`,
    `const load = () => (loaded ??= require(${JSON.stringify(name)}));`,
    ...functions.map((f) => `export function ${f}(...args) { return load().${f}(...args); }`),
    ...classes.map((c) => `export function ${c}(...args) { return new (load().${c})(...args); }`),
  ].join('\n');
}

export const lazyBuiltins = {
  name: 'lazy-builtins',
  setup(build) {
    // Static imports only: require() in CommonJS dependencies and import() already load on use.
    build.onResolve({ filter: BUILTIN }, (args) =>
      args.kind === 'import-statement'
        ? {
            path: args.path.startsWith('node:') ? args.path : `node:${args.path}`,
            namespace: NAMESPACE,
          }
        : undefined,
    );
    build.onLoad({ filter: /.*/, namespace: NAMESPACE }, (args) => ({
      contents: moduleSource(args.path),
      loader: 'js',
    }));
    const packages = new RegExp(`^(${Object.keys(LAZY_PACKAGES).join('|')})$`);
    build.onResolve({ filter: packages }, (args) =>
      args.kind === 'import-statement' ? { path: args.path, namespace: LAZY_NAMESPACE } : undefined,
    );
    build.onLoad({ filter: /.*/, namespace: LAZY_NAMESPACE }, (args) => ({
      contents: lazyPackageSource(args.path),
      loader: 'js',
      resolveDir: ROOT,
    }));
  },
};
