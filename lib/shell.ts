// Showing a command to people who will paste it into a POSIX shell. memgov itself never runs a
// command through a shell; these strings are for display only.
const SHELL_SAFE = /^[A-Za-z0-9_@%+=:,./-]+$/;

/** Quotes `word` for a POSIX shell: bare when safe, else single quotes (`'` as `'\''`). */
export function shellQuote(word: string): string {
  return SHELL_SAFE.test(word) ? word : `'${word.replace(/'/g, `'\\''`)}'`;
}

/** `cd '<cwd>' && <argv quoted>`: the cwd always in single quotes, for display only. */
export function displayCommand(cwd: string, argv: readonly string[]): string {
  return `cd '${cwd.replace(/'/g, `'\\''`)}' && ${argv.map(shellQuote).join(' ')}`;
}
