// Plain text helpers for reading what other programs wrote.
// eslint-disable-next-line no-control-regex -- ANSI escapes are what this matches
const ANSI = /\u001b\[[0-9;?]*[ -/]*[@-~]/g;

/** `text` without ANSI CSI escapes (colours, dimming, cursor moves). */
export function stripAnsi(text: string): string {
  return text.replace(ANSI, '');
}

/** `text` as a RegExp source that matches it literally. */
export function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
