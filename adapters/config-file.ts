// Reads memgov's configuration file: JSON or YAML, any problem named with the file (and line
// for YAML). Validation and the layering of file, environment and flags are cli/config.ts's job.
import { readFileSync } from 'node:fs';
import { err, ok, type Result } from 'neverthrow';
import { LineCounter, parseDocument } from 'yaml';

/** Where agent state lives in the pod: $AGENT_DATA, else a per-user directory. */
export function agentDataDir(env: Readonly<Record<string, string | undefined>>): string {
  return env.AGENT_DATA ?? `${env.HOME ?? '/tmp'}/.memgov`;
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
  // toJS resolves aliases: an unknown anchor, or too many aliases (a "billion laughs"), throws.
  try {
    return ok(doc.toJS() as unknown);
  } catch (e) {
    return err(`${path}: not valid YAML: ${(e as Error).message.split('\n')[0] ?? ''}`);
  }
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
