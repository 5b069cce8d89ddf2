// Quoting untrusted values (config settings, cgroup file contents, pane text) for messages: one
// short line of JSON that cannot move a terminal's cursor, change its colours, or throw.
/** Longest value quoted in a message, in characters: enough to recognise it, short on a terminal. */
const QUOTED_CHARS = 80;
/** What JSON leaves raw but a terminal may act on: DEL, the C1 controls (0x9b starts a CSI). */
const RAW_CONTROLS = /[\u007f-\u009f\u2028\u2029]/g;
/** One unit of JSON text that a cut must keep whole: an escape, a surrogate pair, a character. */
const JSON_UNIT = /\\u[0-9a-fA-F]{4}|\\.|[\ud800-\udbff][\udc00-\udfff]|[^]/gy;

function typeName(value: unknown): string {
  if (Array.isArray(value)) return 'a list';
  if (value === null) return 'null';
  const type = typeof value;
  return type === 'object' ? 'a mapping' : `a ${type}`;
}

function asJson(value: unknown): string {
  // Numbers as JavaScript writes them: JSON would show NaN and Infinity as null.
  if (typeof value === 'number' || typeof value === 'bigint') return String(value);
  if (value === undefined) return 'nothing';
  try {
    return JSON.stringify(value) ?? typeName(value);
  } catch {
    // A cycle (YAML aliases can make one) or a throwing toJSON: the type is all that can be said.
    return typeName(value);
  }
}

/**
 * A value as an error message quotes it: its JSON (a string in quotes, control characters
 * escaped, so a bad line or setting cannot move a terminal's cursor or change its colours),
 * cut to `maxChars` between escapes, `...` marking the cut. Never throws, whatever the value.
 */
export function quoteValue(value: unknown, maxChars = QUOTED_CHARS): string {
  // Only the start of a long string can be shown: do not escape the rest.
  const long = typeof value === 'string' && value.length > maxChars;
  const text = asJson(long ? value.slice(0, maxChars) : value).replace(
    RAW_CONTROLS,
    (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`,
  );
  if (text.length <= maxChars && !long) return text;
  let kept = 0;
  JSON_UNIT.lastIndex = 0;
  for (let unit = JSON_UNIT.exec(text); unit !== null; unit = JSON_UNIT.exec(text)) {
    if (kept + unit[0].length > maxChars - 3) break;
    kept += unit[0].length;
  }
  return `${text.slice(0, kept)}...`;
}
