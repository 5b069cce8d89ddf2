// Node's fs and process errors, reduced to what memgov reports: the errno code to branch on,
// and a one-line summary for messages that name the path themselves.

export function errnoCode(error: unknown): string | undefined {
  if (typeof error !== 'object' || error === null || !('code' in error)) return undefined;
  return typeof error.code === 'string' ? error.code : undefined;
}

/** Node's message up to the path it repeats, on one line: `EACCES: permission denied`. */
export function errnoSummary(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  return (message.split(', ')[0] ?? message).replace(/\s+/g, ' ');
}
