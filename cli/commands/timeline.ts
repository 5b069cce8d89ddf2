// `memgov timeline JOURNAL --html OUT`: a decision journal (adapters/journal.ts) drawn as one
// self-contained HTML file (docs/DESIGN.md#observability). It draws what the governor recorded, not a new run
// of the policy: `memgov replay JOURNAL --html OUT` does that.
import { existsSync, writeFileSync } from 'node:fs';
import { loadConfig } from '../config.ts';
import { parseJournalLine } from '../../adapters/journal.ts';
import { formatTraceError, readLines, type TraceError } from '../../adapters/trace.ts';
import { errnoSummary } from '../../adapters/errno.ts';
import { createTimelineBuilder } from '../../visualizations/timeline.ts';
import { stringFlag } from '../args.ts';
import { openCommand, usageError } from '../command.ts';
import { EXIT_FAILURE, EXIT_OK, EXIT_USAGE, type CliIo } from '../io.ts';

export const TIMELINE_HELP = `Usage: memgov timeline JOURNAL --html OUT [--config FILE] [--rotated]

Draws a decision journal as one self-contained HTML file (no network needed to view it): the
memory ratio over time over the threshold bands, the polling interval, each action the governor
took and, below it, each action's result. Any length of journal makes a file under 2 MB.

  --html OUT     write the timeline to OUT (required)
  --config FILE  policy settings (JSON or YAML) for the threshold bands: give the daemon's own;
                 MEMGOV_* variables also apply
  --rotated      also read the rotated files, oldest first: JOURNAL.N ... JOURNAL.2, JOURNAL.1,
                 then JOURNAL (N: the highest number with no gap below it)

A line cut short by a crash (a torn line) is skipped and reported; any other bad line stops the
command with the file and line (exit 1). Decisions must be in time order across the files.
`;

/** Rotated journals read at most: the journal's own limit on `keep`. */
const MAX_ROTATED = 1000;

/** Writes the HTML file; the error message names the file. */
export function writeTimelineFile(out: string, html: string): string | null {
  try {
    writeFileSync(out, html);
    return null;
  } catch (error) {
    return `${out}: cannot write the timeline: ${errnoSummary(error)}`;
  }
}

/** JOURNAL alone, or its rotated files (oldest first) and then JOURNAL. */
function journalFiles(journal: string, rotated: boolean): string[] {
  const files: string[] = [];
  if (rotated) {
    for (let k = 1; k <= MAX_ROTATED && existsSync(`${journal}.${k}`); k++) {
      files.unshift(`${journal}.${k}`);
    }
  }
  files.push(journal);
  return files;
}

const LISTED_TORN_LINES = 5;

/** What the timeline left out and why: torn lines (a crash) and record kinds it does not draw. */
function skipNotes(torn: readonly string[], otherKinds: ReadonlyMap<string, number>): string[] {
  const notes: string[] = [];
  if (torn.length > 0) {
    const listed = torn.slice(0, LISTED_TORN_LINES).join(', ');
    const more =
      torn.length > LISTED_TORN_LINES ? ` and ${torn.length - LISTED_TORN_LINES} more` : '';
    notes.push(`Skipped ${torn.length} torn line(s), cut short by a crash: ${listed}${more}.`);
  }
  if (otherKinds.size > 0) {
    const kinds = [...otherKinds].map(([name, count]) => `${name} (${count})`).join(', ');
    notes.push(`Skipped records of kinds this memgov does not draw: ${kinds}.`);
  }
  return notes;
}

export function timelineCommand(argv: readonly string[], io: CliIo): number {
  const spec = {
    name: 'timeline',
    flags: { html: { kind: 'string' }, config: { kind: 'string' }, rotated: { kind: 'boolean' } },
    help: TIMELINE_HELP,
    positional: 'JOURNAL',
  } as const;
  const opened = openCommand(argv, io, spec);
  if (opened.isErr()) return opened.error;
  const { args, positional: journal } = opened.value;
  const out = stringFlag(args, 'html');
  if (out === undefined) return usageError(io, spec, '--html OUT is required');
  const config = loadConfig({ file: stringFlag(args, 'config'), env: io.env });
  if (config.isErr()) {
    io.err(config.error.map((problem) => `memgov timeline: ${problem}\n`).join(''));
    return EXIT_USAGE;
  }

  const builder = createTimelineBuilder();
  const files = journalFiles(journal, args.flags.rotated === true);
  const torn: string[] = [];
  const otherKinds = new Map<string, number>();
  let previousT = Number.NEGATIVE_INFINITY;
  for (const file of files) {
    let failure: TraceError | null = null;
    const read = readLines(file, (text, line) => {
      const entry = parseJournalLine(text, line);
      if (entry.isErr()) {
        failure = entry.error;
        return false;
      }
      const value = entry.value;
      if (value.kind === 'sample') {
        const { record } = value;
        if (record.t < previousT) {
          failure = {
            line,
            detail: `"t" ${record.t} is earlier than the decision before (${previousT}); decisions must be in time order`,
          };
          return false;
        }
        previousT = record.t;
        builder.addPoint(record);
      } else if (value.kind === 'result') builder.addResult(value.record);
      else if (value.kind === 'oom') builder.addOom(value.record);
      else if (value.kind === 'start') builder.addStart(value.record);
      else if (value.kind === 'torn') torn.push(`${file}:${line}`);
      else if (value.kind === 'other') {
        otherKinds.set(value.name, (otherKinds.get(value.name) ?? 0) + 1);
      }
      return true;
    });
    const problem: TraceError | null = read.isErr() ? read.error : failure;
    if (problem !== null) {
      io.err(`memgov timeline: ${formatTraceError(file, problem)}\n`);
      return EXIT_FAILURE;
    }
  }
  if (builder.pointCount === 0) {
    io.err(`memgov timeline: ${files.join(', ')}: the journal has no decisions\n`);
    return EXIT_FAILURE;
  }

  const notes = skipNotes(torn, otherKinds);
  for (const note of notes) io.err(`memgov timeline: ${note}\n`);
  const html = builder.render({
    title: 'memgov timeline',
    source: files.join(', '),
    thresholds: config.value.policy,
    notes,
  });
  const written = writeTimelineFile(out, html);
  if (written !== null) {
    io.err(`memgov timeline: ${written}\n`);
    return EXIT_FAILURE;
  }
  io.out(
    `wrote ${out}: ${builder.pointCount} decisions, ${builder.resultCount} action results from ${files.length} file(s)\n`,
  );
  return EXIT_OK;
}
