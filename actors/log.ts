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

/**
 * One JSON line per record: message, level, levelId, time, then the fields. tslog's own JSON adds
 * a ~200-byte `_logMeta` block (hostname, runtime, date again) to every line; the start line says
 * hostname and pid once instead.
 */
function jsonLine(record: Record<string, unknown>): string {
  const meta = record._logMeta as { logLevelName?: string; logLevelId?: number; date?: Date };
  const fields = (record['1'] ?? {}) as LogFields;
  return JSON.stringify({
    message: record['0'],
    level: meta.logLevelName,
    levelId: meta.logLevelId,
    time: meta.date instanceof Date ? meta.date.toISOString() : meta.date,
    ...fields,
  });
}

/** Pretty lines for people: time, level, message, fields; no call site (it is always this file). */
const PRETTY_TEMPLATE = '{{yyyy}}-{{mm}}-{{dd}} {{hh}}:{{MM}}:{{ss}}.{{ms}}\t{{logLevelName}}\t';

export function createLog(options: {
  level: LogLevel;
  format: 'json' | 'pretty' | 'hidden';
  /** Where JSON lines go; process.stdout when not given. */
  writeLine?: (text: string) => void;
}): Log {
  const logger = new Logger<LogFields>({
    type: options.format === 'pretty' ? 'pretty' : 'hidden',
    name: 'memgov',
    minLevel: LEVEL_IDS[options.level],
    stack: { capture: 'off' },
    // Colours matter only to pretty output; saying so for the others keeps tslog from reading
    // process.stdout.isTTY, which builds the stdout stream (for a pipe, node:net and the stream
    // modules: +1.7 MiB of peak RSS on Node 20; docs/BENCHMARKS.md, "Footprint within target").
    pretty:
      options.format === 'pretty'
        ? { template: PRETTY_TEMPLATE }
        : { template: PRETTY_TEMPLATE, style: false },
  });
  if (options.format === 'json')
    logger.attachTransport((record) => {
      const line = `${jsonLine(record)}\n`;
      if (options.writeLine === undefined) void process.stdout.write(line);
      else options.writeLine(line);
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
