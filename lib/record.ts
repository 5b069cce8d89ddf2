// Narrowing parsed JSON or YAML: what every reader of untrusted structured input checks first.

/** A plain object (not null, not a list): the shape a record or a settings mapping must have. */
export function isRecord(value: unknown): value is Readonly<Record<string, unknown>> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
