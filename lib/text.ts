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

/** How many single-character edits (insert, delete, replace) turn `a` into `b`. */
export function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++) {
      const replace = (previous[j - 1] as number) + (a[i - 1] === b[j - 1] ? 0 : 1);
      row.push(Math.min(replace, (previous[j] as number) + 1, (row[j - 1] as number) + 1));
    }
    previous = row;
  }
  return previous[b.length] as number;
}

/** The candidate closest to `word`, when one is within a third of its length; else null. */
export function nearest(word: string, candidates: readonly string[]): string | null {
  let best: { name: string; distance: number } | null = null;
  for (const name of candidates) {
    const distance = editDistance(word, name);
    if (best === null || distance < best.distance) best = { name, distance };
  }
  return best !== null && best.distance <= Math.max(2, Math.floor(word.length / 3))
    ? best.name
    : null;
}
