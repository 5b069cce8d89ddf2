// The log port: one structured record per event, JSON lines in production (when stdout is not a
// terminal), pretty on a terminal, silent in tests. Modules log through `Log`, never tslog itself.
import { Logger } from 'tslog';
import type { LogLevel } from '../machines/daemon-config.ts';

export type LogFields = Readonly<Record<string, unknown>>;

export interface Log {
  debug(message: string, fields?: LogFields): void;
  info(message: string, fields?: LogFields): void;
  warn(message: string, fields?: LogFields): void;
  error(message: string, fields?: LogFields): void;
}

const LEVEL_IDS: Readonly<Record<LogLevel, number>> = { debug: 2, info: 3, warn: 4, error: 5 };

export function createLog(options: { level: LogLevel; format: 'json' | 'pretty' | 'hidden' }): Log {
  const logger = new Logger<LogFields>({
    type: options.format,
    name: 'memgov',
    minLevel: LEVEL_IDS[options.level],
  });
  return {
    debug: (message, fields) => void logger.debug(message, fields ?? {}),
    info: (message, fields) => void logger.info(message, fields ?? {}),
    warn: (message, fields) => void logger.warn(message, fields ?? {}),
    error: (message, fields) => void logger.error(message, fields ?? {}),
  };
}

/** A log that keeps records in memory, for tests and for `--quiet` paths. */
export function memoryLog(): Log & {
  records: { level: LogLevel; message: string; fields: LogFields }[];
} {
  const records: { level: LogLevel; message: string; fields: LogFields }[] = [];
  const at =
    (level: LogLevel) =>
    (message: string, fields: LogFields = {}): void =>
      void records.push({ level, message, fields });
  return { records, debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') };
}
