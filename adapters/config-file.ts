// Loads memgov's configuration: a JSON or YAML file, then MEMGOV_* environment variables, then
// flags, each layer validated with messages naming the file, variable or flag at fault.
import { readFileSync } from 'node:fs';
import { err, ok, type Result } from 'neverthrow';
import { LineCounter, parseDocument } from 'yaml';
import {
  DEFAULT_POLICY,
  envNameOf,
  formatConfigIssue,
  isPolicyKey,
  policyFromEnv,
  resolvePolicy,
  type PolicyConfig,
} from '../machines/config.ts';

export interface MemgovConfig {
  readonly policy: PolicyConfig;
}

export interface ConfigSources {
  /** Path of a JSON or YAML file, if one was given. */
  readonly file?: string | undefined;
  readonly env: Readonly<Record<string, string | undefined>>;
  /** Policy values given as flags, keyed by policy key (strings, validated here). */
  readonly flags?: Readonly<Record<string, string>>;
}

function parseFileText(path: string, text: string): Result<unknown, string> {
  if (path.endsWith('.json')) {
    try {
      return ok(JSON.parse(text) as unknown);
    } catch (e) {
      return err(`${path}: not valid JSON: ${(e as Error).message}`);
    }
  }
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { prettyErrors: false, lineCounter });
  const first = doc.errors[0];
  if (first !== undefined) {
    const where = lineCounter.linePos(first.pos[0]);
    const at = `:${where.line}:${where.col}`;
    return err(`${path}${at}: not valid YAML or JSON: ${first.message.split('\n')[0] ?? ''}`);
  }
  return ok(doc.toJS() as unknown);
}

/** Reads the config file (if any); an empty file is an empty config. */
export function readConfigFile(path: string): Result<Record<string, unknown>, string> {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    return err(`${path}: cannot read config file: ${(e as Error).message}`);
  }
  return parseFileText(path, text).andThen((value) => {
    if (value === null || value === undefined) return ok({});
    if (typeof value !== 'object' || Array.isArray(value)) {
      return err(
        `${path}: the config must be a mapping of settings (got ${Array.isArray(value) ? 'a list' : typeof value})`,
      );
    }
    return ok(value as Record<string, unknown>);
  });
}

/** Resolves file, then env, then flags over the defaults; every problem is reported, not just the first. */
export function loadConfig(sources: ConfigSources): Result<MemgovConfig, string[]> {
  let policy = DEFAULT_POLICY;
  const problems: string[] = [];
  // Each source is one layer, so a pair of keys that is only valid together may be set together.
  const layer = (raw: Record<string, unknown>, sourceOf: (key: string) => string): void => {
    if (Object.keys(raw).length === 0) return;
    resolvePolicy(raw, '', policy).match(
      (resolved) => {
        policy = resolved;
      },
      (issues) =>
        problems.push(...issues.map((i) => formatConfigIssue({ ...i, source: sourceOf(i.key) }))),
    );
  };
  if (sources.file !== undefined) {
    const path = sources.file;
    const fileResult = readConfigFile(path);
    if (fileResult.isErr()) return err([fileResult.error]);
    layer(fileResult.value, () => path);
  }
  layer(policyFromEnv(sources.env), (key) =>
    isPolicyKey(key) ? `environment ${envNameOf(key)}` : 'environment',
  );
  layer(sources.flags ?? {}, (key) => `flag --${key}`);
  return problems.length > 0 ? err(problems) : ok({ policy });
}
