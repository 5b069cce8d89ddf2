// The configuration memgov runs with: defaults, then the file, then MEMGOV_* environment
// variables, then flags, each layer validated by the rules in machines/ with messages naming the
// file, variable or flag at fault.
import { err, ok, type Result } from 'neverthrow';
import { agentDataDir, readConfigFile } from '../adapters/config-file.ts';
import {
  DEFAULT_POLICY,
  envNameOf,
  formatConfigIssue,
  isPolicyKey,
  POLICY_KEYS,
  policyFromEnv,
  resolvePolicy,
} from '../machines/config.ts';
import {
  DAEMON_KEYS,
  defaultDaemonConfig,
  resolveDaemon,
  type MemgovConfig,
} from '../machines/daemon-config.ts';
import { nearest } from '../lib/text.ts';

export type { MemgovConfig } from '../machines/daemon-config.ts';

export interface ConfigSources {
  /** Path of a JSON or YAML file, if one was given. */
  readonly file?: string | undefined;
  readonly env: Readonly<Record<string, string | undefined>>;
  /** Policy values given as flags, keyed by policy key (strings, validated here). */
  readonly flags?: Readonly<Record<string, string>>;
  /** Daemon settings given as flags (`--state-file` → stateFile, `--dry-run` → dryRun, ...). */
  readonly daemonFlags?: Readonly<Record<string, unknown>>;
  /** The command-line flag that set each daemonFlags key (`agent.busyPolicy`: `--busy-policy`). */
  readonly daemonFlagNames?: Readonly<Record<string, string>>;
}

/** Daemon settings that the environment may set, besides the MEMGOV_<POLICY_KEY> ones. */
const DAEMON_ENV: Readonly<Record<string, string>> = {
  MEMGOV_STATE_FILE: 'stateFile',
  MEMGOV_CGROUP: 'cgroup',
  MEMGOV_DRY_RUN: 'dryRun',
  MEMGOV_LOG_LEVEL: 'logLevel',
  MEMGOV_RELAUNCH_WINDOW_MS: 'relaunchWindowMs',
};

/**
 * MEMGOV_* names that other parts of memgov read, not the config: the container entrypoint
 * (deploy/entrypoint.sh), the command transport's children, and the development scripts. Any other
 * MEMGOV_* variable is a typo that would otherwise be silently ignored.
 */
const OTHER_ENV = [
  'MEMGOV_ARGS',
  'MEMGOV_CONFIG',
  'MEMGOV_BIN',
  'MEMGOV_LOG_FILE',
  'MEMGOV_BACKOFF_MIN_MS',
  'MEMGOV_BACKOFF_MAX_MS',
  'MEMGOV_HEALTHY_AFTER_S',
  'MEMGOV_ACTION',
  'MEMGOV_RATIO',
  'MEMGOV_AGENT_CLIS',
  'MEMGOV_TEST_TMUX_PREFIX',
  'MEMGOV_GUEST',
  'MEMGOV_GUEST_CACHE',
  'MEMGOV_GUEST_SCRATCH',
  'MEMGOV_GUEST_TIMEOUT_S',
  'MEMGOV_GUEST_KEEP_SCRATCH',
];

/** One problem per MEMGOV_* variable that nothing reads, with the nearest known name. */
function unknownEnvProblems(env: Readonly<Record<string, string | undefined>>): string[] {
  const configNames = [...POLICY_KEYS.map((key) => envNameOf(key)), ...Object.keys(DAEMON_ENV)];
  const known = new Set([...configNames, ...OTHER_ENV]);
  return Object.keys(env)
    .filter((name) => name.startsWith('MEMGOV_') && !known.has(name))
    .sort()
    .map((name) => {
      const guess = nearest(name, configNames);
      const hint = guess === null ? `known: ${configNames.join(', ')}` : `did you mean ${guess}?`;
      return `environment ${name}: unknown setting (${hint})`;
    });
}

/** Resolves file, then env, then flags over the defaults; every problem is reported, not just the first. */
export function loadConfig(sources: ConfigSources): Result<MemgovConfig, string[]> {
  let policy = DEFAULT_POLICY;
  let daemon = defaultDaemonConfig(agentDataDir(sources.env));
  const problems: string[] = [];
  // Each source is one layer, so a pair of keys that is only valid together may be set together.
  const layer = (raw: Record<string, unknown>, sourceOf: (key: string) => string): void => {
    const policyRaw: Record<string, unknown> = {};
    const daemonRaw: Record<string, unknown> = {};
    for (const [key, value] of Object.entries(raw)) {
      if (isPolicyKey(key)) policyRaw[key] = value;
      else if (DAEMON_KEYS.includes(key)) daemonRaw[key] = value;
      else {
        const known = [...POLICY_KEYS, ...DAEMON_KEYS].join(', ');
        problems.push(
          formatConfigIssue({
            key,
            source: sourceOf(key),
            message: `unknown setting (known: ${known})`,
          }),
        );
      }
    }
    if (Object.keys(policyRaw).length > 0) {
      resolvePolicy(policyRaw, '', policy).match(
        (resolved) => {
          policy = resolved;
        },
        (issues) =>
          problems.push(...issues.map((i) => formatConfigIssue({ ...i, source: sourceOf(i.key) }))),
      );
    }
    if (Object.keys(daemonRaw).length > 0) {
      const resolved = resolveDaemon(daemonRaw, '', daemon);
      daemon = resolved.config;
      problems.push(
        ...resolved.issues.map((i) => formatConfigIssue({ ...i, source: sourceOf(i.key) })),
      );
    }
  };
  if (sources.file !== undefined) {
    const path = sources.file;
    const fileResult = readConfigFile(path);
    if (fileResult.isErr()) return err([fileResult.error]);
    // A file can hold any structure (objects whose toString is not a function, cycles made with
    // YAML aliases) that a validator's message may trip over: the file is then refused, by name.
    try {
      layer(fileResult.value, () => path);
    } catch (e) {
      return err([
        `${path}: cannot read the settings: ${(e as Error).message.split('\n')[0] ?? ''}`,
      ]);
    }
  }
  problems.push(...unknownEnvProblems(sources.env));
  const envRaw: Record<string, unknown> = policyFromEnv(sources.env);
  const envNames: Record<string, string> = {};
  for (const [name, key] of Object.entries(DAEMON_ENV)) {
    const value = sources.env[name];
    if (value !== undefined) {
      envRaw[key] = value;
      envNames[key] = name;
    }
  }
  layer(envRaw, (key) =>
    isPolicyKey(key)
      ? `environment ${envNameOf(key)}`
      : `environment ${envNames[key.split('.')[0] ?? ''] ?? ''}`,
  );
  layer(sources.flags ?? {}, (key) => `flag --${key}`);
  layer({ ...(sources.daemonFlags ?? {}) }, (key) => {
    const flag = sources.daemonFlagNames?.[key];
    return flag === undefined ? `flag for ${key}` : `flag ${flag}`;
  });
  return problems.length > 0 ? err(problems) : ok({ policy, daemon });
}
