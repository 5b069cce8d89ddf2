// One way to turn a caught value into text: an Error's message, anything else as a string.

/** The message of a thrown value, whatever was thrown (an Error, a string, an odd object). */
export function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
