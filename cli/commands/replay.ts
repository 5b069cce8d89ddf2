// `memgov replay TRACE [--config F] [--json] [--html OUT]`: the governor over a recorded memory
// curve (docs/DESIGN.md#command-line). Streams the trace and the output, so trace length is bounded by disk
// only; the timeline downsamples as it goes, so --html is bounded too.
import { loadConfig } from '../config.ts';
import {
  formatTraceError,
  parseTraceEntry,
  readLines,
  type TraceError,
} from '../../adapters/trace.ts';
import type { PolicyConfig } from '../../machines/config.ts';
import { createReplayer, formatStep, type ReplayStep } from '../../machines/replay.ts';
import { createTimelineBuilder } from '../../visualizations/timeline.ts';
import { stringFlag } from '../args.ts';
import { openCommand } from '../command.ts';
import { EXIT_FAILURE, EXIT_OK, EXIT_USAGE, type CliIo } from '../io.ts';
import { writeTimelineFile } from './timeline.ts';

export const REPLAY_HELP = `Usage: memgov replay TRACE [--config FILE] [--json] [--html OUT]

Runs the governor over a recorded memory curve. TRACE is JSONL, one sample per line:
  {"t": <ms>, "current": <bytes>, "inactiveFile": <bytes>, "limit": <bytes>}
("usage" may stand for "current"; lines in time order). A decision journal is a trace too: its
records other than samples are skipped (but a torn line is an error here; memgov timeline skips
it). The governor sees the first sample at or after each time it asks for, as the live sampler
would; actions count as dispatched at once.

  --config FILE  policy settings (JSON or YAML); MEMGOV_* variables also apply
  --json         one JSON line per seen sample: {"t","ratio","action","nextPollMs","state"}
  --html OUT     also write the replay as one self-contained HTML timeline to OUT
`;

const FLUSH_CHARS = 1 << 16;

function humanLine(step: ReplayStep): string {
  const d = step.decision;
  const action = d.action ?? '-';
  return `t=${d.t}ms ratio=${(d.ratio * 100).toFixed(2)}% action=${action} next=${d.nextPollMs}ms reason=${d.reason} state=${step.state}`;
}

export function replayCommand(argv: readonly string[], io: CliIo): number {
  const opened = openCommand(argv, io, {
    name: 'replay',
    flags: { config: { kind: 'string' }, json: { kind: 'boolean' }, html: { kind: 'string' } },
    help: REPLAY_HELP,
    positional: 'TRACE',
  });
  if (opened.isErr()) return opened.error;
  const { args, positional: tracePath } = opened.value;
  const config = loadConfig({ file: stringFlag(args, 'config'), env: io.env });
  if (config.isErr()) {
    io.err(config.error.map((problem) => `memgov replay: ${problem}\n`).join(''));
    return EXIT_USAGE;
  }
  const json = args.flags.json === true;
  const htmlPath = stringFlag(args, 'html');
  const timeline = htmlPath === undefined ? null : createTimelineBuilder();
  const replayer = createReplayer(config.value.policy);
  const format = json ? formatStep : humanLine;
  let pending = '';
  let previousT = Number.NEGATIVE_INFINITY;
  let samples = 0;
  let seen = 0;
  const actions = new Map<string, number>();
  let failure: TraceError | null = null;
  let printing = true;

  const read = readLines(tracePath, (text, line) => {
    // Blank lines (a trailing newline, CRLF leftovers) are not samples.
    if (text.length === 0 || (text.charCodeAt(0) <= 32 && text.trim() === '')) return true;
    const sample = parseTraceEntry(text, line);
    if (sample.isErr()) {
      failure = sample.error;
      return false;
    }
    // A journal's result records (and any other non-sample kind) are not part of the curve.
    if (sample.value === null) return true;
    const { t } = sample.value;
    if (t < previousT) {
      failure = {
        line,
        detail: `"t" ${t} is earlier than the line before (${previousT}); lines must be in time order`,
      };
      return false;
    }
    previousT = t;
    samples++;
    const step = replayer.offer(sample.value);
    if (step === null) return true;
    seen++;
    const action = step.decision.action;
    if (action !== null) actions.set(action, (actions.get(action) ?? 0) + 1);
    if (timeline !== null) {
      const d = step.decision;
      timeline.addPoint({
        t: d.t,
        ratio: d.ratio,
        nextPollMs: d.nextPollMs,
        state: step.state,
        action,
        reason: d.reason,
        limit: d.limitBytes,
        ...(d.tool === undefined
          ? {}
          : { tool: { command: d.tool.command, pid: d.tool.pid, bytes: d.tool.bytes } }),
      });
    }
    if (printing) {
      pending += format(step) + '\n';
      if (pending.length >= FLUSH_CHARS) {
        io.out(pending);
        pending = '';
        const failed = io.outFailure?.() ?? null;
        if (failed !== null) {
          printing = false;
          // A reader that went away (`| head`) wants no more; the HTML file still wants the rest.
          if (timeline === null || !failed.readerGone) return false;
        }
      }
    }
    return true;
  });
  if (printing && pending !== '') io.out(pending);
  const outFailure = io.outFailure?.() ?? null;
  if (outFailure !== null && !outFailure.readerGone) {
    io.err(`memgov replay: cannot write the output: ${outFailure.detail}\n`);
    return EXIT_FAILURE;
  }
  const problem: TraceError | null = read.isErr() ? read.error : failure;
  if (problem !== null) {
    io.err(`memgov replay: ${formatTraceError(tracePath, problem)}\n`);
    return EXIT_FAILURE;
  }
  // Stopped early because the reader went away: a short read of the trace proves nothing.
  if (outFailure !== null && timeline === null) return EXIT_OK;
  if (samples === 0) {
    io.err(`memgov replay: ${tracePath}: the trace has no samples\n`);
    return EXIT_FAILURE;
  }
  return finishReplay(
    io,
    { tracePath, htmlPath, timeline, json, samples, seen, actions },
    config.value.policy,
  );
}

interface ReplayTotals {
  readonly tracePath: string;
  readonly htmlPath: string | undefined;
  readonly timeline: ReturnType<typeof createTimelineBuilder> | null;
  readonly json: boolean;
  readonly samples: number;
  readonly seen: number;
  readonly actions: ReadonlyMap<string, number>;
}

/** Writes the HTML timeline if asked for, and the human summary line. */
function finishReplay(io: CliIo, r: ReplayTotals, policy: PolicyConfig): number {
  const { tracePath, htmlPath, timeline, json, samples, seen, actions } = r;
  if (timeline !== null && htmlPath !== undefined) {
    const html = timeline.render({
      title: 'memgov replay',
      source: tracePath,
      thresholds: policy,
      notes: [`Replayed ${samples} samples; the governor saw ${seen}.`],
    });
    const written = writeTimelineFile(htmlPath, html);
    if (written !== null) {
      io.err(`memgov replay: ${written}\n`);
      return EXIT_FAILURE;
    }
  }
  if (!json) {
    const summary = [...actions].map(([name, count]) => `${name}=${count}`).join(' ') || 'none';
    io.out(`replayed ${samples} samples, governor saw ${seen}; actions: ${summary}\n`);
    if (htmlPath !== undefined) io.out(`wrote ${htmlPath}\n`);
  }
  return EXIT_OK;
}
