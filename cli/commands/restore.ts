// `memgov restore ARCHIVE [--force] [--json] [--dry-run]`: puts an archived session back where it
// was, then says how to resume it. The engine (verify, check every destination, stage, rename) is
// adapters/archive/restore.ts; this command parses the arguments, names the files an agent wants
// left out, asks the agent side for the resume command, and prints.
import { join, resolve } from 'node:path';
import { isLoss, type Manifest } from '../../adapters/archive/manifest.ts';
import type { Conflict, RestoreAction, RestoreFailure } from '../../adapters/archive/plan.ts';
import {
  restoreArchive,
  type RestoreError,
  type RestorePlan,
} from '../../adapters/archive/restore.ts';
import { formatArchiveError } from '../../adapters/archive/errors.ts';
import { resumeFromManifest, type AgentName, type ResumeCommand } from '../../agents/index.ts';
import type { FlagSpec } from '../args.ts';
import { openCommand, usageError } from '../command.ts';
import { EXIT_FAILURE, EXIT_OK, type CliIo } from '../io.ts';

export const RESTORE_HELP = `Usage: memgov restore ARCHIVE [--force] [--json] [--dry-run]

Puts the files of a memgov archive (the directory holding manifest.json) back at the paths they
were archived from, then prints the command that resumes the archived session.

Every archived file is re-hashed first; a mismatch refuses the restore. A destination that is
newer than the archive is a conflict, an identical one is left alone, and a symlink is always
refused. Conflicts are all listed and nothing is copied. Restored files are mode 0600; missing
directories are created 0700.

Options:
  --force    overwrite files that changed after the archive was made
  --dry-run  check everything and report what would be restored; write nothing
  --json     print one JSON summary on stdout

Exit codes: 0 restored (or nothing to do), 1 verification failure, conflict or I/O error,
2 usage.
`;

interface Summary {
  readonly ok: boolean;
  readonly archive: string;
  readonly dryRun: boolean;
  readonly createdAtMs: number | null;
  readonly complete: boolean | null;
  readonly files: readonly { path: string; action: RestoreAction }[];
  /** Archived files deliberately not restored (a dead process's registry entry). */
  readonly leftOut: readonly string[];
  readonly restored: number;
  readonly identical: number;
  readonly conflicts: readonly Conflict[];
  readonly error: RestoreFailure | null;
  readonly resume: {
    readonly profile: AgentName;
    readonly cwd: string;
    readonly argv: readonly string[];
    readonly command: string;
  } | null;
}

/**
 * sessions/<pid>.json is Claude Code's registry of running processes: the archived one names a
 * process that is gone, and the agent rewrote it on its way out (so it is always "newer" than
 * the archive). It is kept in the archive for the record, never restored.
 */
function isRegistryEntry(path: string, manifest: Manifest): boolean {
  const configDir = typeof manifest.claudeConfigDir === 'string' ? manifest.claudeConfigDir : null;
  return (
    configDir !== null &&
    /^\/sessions\/\d+\.json$/.test(path.slice(configDir.length)) &&
    path.startsWith(configDir)
  );
}

function count(n: number, noun: string): string {
  return `${n} ${noun}${n === 1 ? '' : 's'}`;
}

function summaryOf(
  archive: string,
  dryRun: boolean,
  plan: RestorePlan | null,
  parts: { conflicts?: readonly Conflict[]; error?: RestoreFailure | null; restored?: number },
): Summary {
  const planned = plan?.files ?? [];
  const resume = plan === null ? null : resumeFromManifest(plan.manifest);
  const conflicts = parts.conflicts ?? [];
  const error = parts.error ?? null;
  return {
    ok: conflicts.length === 0 && error === null,
    archive,
    dryRun,
    createdAtMs: plan?.manifest.createdAtMs ?? null,
    complete: plan?.manifest.complete ?? null,
    files: planned.map((f) => ({ path: f.path, action: f.action })),
    leftOut: plan?.leftOut ?? [],
    restored: parts.restored ?? 0,
    identical: planned.filter((f) => f.action === 'identical').length,
    conflicts,
    error,
    resume:
      resume === null
        ? null
        : {
            profile: resume.profile,
            cwd: resume.command.cwd,
            argv: resume.command.argv,
            command: resume.command.display,
          },
  };
}

function resumeLines(command: ResumeCommand | null): string[] {
  return command === null ? [] : ['resume the session with:', command.display];
}

function human(summary: Summary, manifest: Manifest): string {
  const verb = (action: RestoreAction): string =>
    action === 'identical'
      ? 'identical'
      : summary.dryRun
        ? `would ${action}`
        : action === 'create'
          ? 'restored'
          : 'overwrote';
  const lines = summary.files.map((f) =>
    f.action === 'identical' ? `identical  ${f.path} (left alone)` : `${verb(f.action)}  ${f.path}`,
  );
  lines.push(
    ...summary.leftOut.map((path) => `left out  ${path} (the archived process's registry entry)`),
  );
  const writes = summary.files.length - summary.identical;
  lines.push(
    summary.dryRun
      ? `dry run: would restore ${count(writes, 'file')} (${summary.identical} identical), nothing written`
      : `restored ${count(summary.restored, 'file')} from ${summary.archive} (${summary.identical} identical, left alone)`,
  );
  if (!manifest.complete) {
    lines.push(
      `note: the archive is incomplete: ${count(manifest.skipped.filter(isLoss).length, 'file')} not archived (deadline or unreadable); see its manifest`,
    );
  }
  const resume = resumeFromManifest(manifest);
  lines.push(...resumeLines(resume?.command ?? null));
  return `${lines.join('\n')}\n`;
}

function conflictText(conflicts: readonly Conflict[]): string {
  const width = Math.max(...conflicts.map((c) => c.why.length));
  const lines = conflicts.map((c) => `  ${c.why.padEnd(width)}  ${c.path}: ${c.detail}`);
  const newer = conflicts.some((c) => c.why === 'newer');
  return (
    `memgov restore: refused, nothing was copied: ${count(conflicts.length, 'conflict')}` +
    `${newer ? ' (--force overwrites files changed after the archive; symlinks are never followed)' : ''}\n` +
    `${lines.join('\n')}\n`
  );
}

/** The summary and the message on stderr for a restore that did not (wholly) happen. */
function refusal(archive: string, dryRun: boolean, e: RestoreError): [Summary, string] {
  switch (e.kind) {
    case 'verify': {
      const filesDir = join(archive, 'files');
      const { path } = e.error;
      const original = path.startsWith(`${filesDir}/`) ? path.slice(filesDir.length) : null;
      const detail = `${formatArchiveError(e.error)}${original === null ? '' : ` (the archived copy of ${original})`}`;
      return [
        summaryOf(archive, dryRun, null, { error: { path, detail: e.error.detail } }),
        `memgov restore: verification failed, nothing was copied: ${detail}\n`,
      ];
    }
    case 'check':
      return [
        summaryOf(archive, dryRun, e.plan, { error: e.failure }),
        `memgov restore: ${e.failure.path}: ${e.failure.detail}\n`,
      ];
    case 'conflict':
      return [
        summaryOf(archive, dryRun, e.plan, { conflicts: e.conflicts }),
        conflictText(e.conflicts),
      ];
    case 'write': {
      const partial =
        e.restored === 0 ? 'nothing was restored' : `${count(e.restored, 'file')} already in place`;
      return [
        summaryOf(archive, dryRun, e.plan, { error: e.failure, restored: e.restored }),
        `memgov restore: ${e.failure.path}: ${e.failure.detail} (${partial})\n`,
      ];
    }
  }
}

const RESTORE_FLAGS: Readonly<Record<string, FlagSpec>> = {
  force: { kind: 'boolean' },
  json: { kind: 'boolean' },
  'dry-run': { kind: 'boolean' },
};

export async function restoreCommand(argv: readonly string[], io: CliIo): Promise<number> {
  const spec = {
    name: 'restore',
    flags: RESTORE_FLAGS,
    help: RESTORE_HELP,
  };
  const opened = openCommand(argv, io, spec);
  if (opened.isErr()) return opened.error;
  const { positionals } = opened.value;
  if (positionals.length !== 1) {
    const why =
      positionals.length === 0
        ? 'which archive? (give its directory)'
        : `one archive at a time (got ${positionals.length})`;
    return usageError(io, spec, why);
  }
  const { flags } = opened.value.args;
  const json = flags.json === true;
  const dryRun = flags['dry-run'] === true;
  const force = flags.force === true;
  const archive = resolve(io.cwd, positionals[0] as string);

  const done = await restoreArchive({ archive, force, dryRun, leaveOut: isRegistryEntry });
  if (done.isErr()) {
    const [summary, message] = refusal(archive, dryRun, done.error);
    io.err(message);
    if (json) io.out(`${JSON.stringify(summary)}\n`);
    return EXIT_FAILURE;
  }
  const summary = summaryOf(archive, dryRun, done.value, { restored: done.value.restored });
  io.out(json ? `${JSON.stringify(summary)}\n` : human(summary, done.value.manifest));
  return EXIT_OK;
}
