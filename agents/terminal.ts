// What the terminal CLIs share (docs/AGENTS.md): the busy marker their panes show while working,
// the pane-only probe of the CLIs whose command records memgov does not read yet, and a profile
// built from one session file found from the agent's cwd (Codex, Gemini, Aider).
import { ok, type Result } from 'neverthrow';
import { readProcessCwd } from '../adapters/proc.ts';
import type { Env, SessionFileError } from '../adapters/session-files.ts';
import { paneLacks, type Predicate } from '../adapters/tmux.ts';
import { displayCommand } from '../lib/shell.ts';
import type {
  AgentProfile,
  ArchivedSession,
  ProfilePorts,
  ResumeCommand,
  RungName,
  RungProbe,
} from './profile.ts';

/** One session file of a CLI that keeps a session in one file. */
export interface AgentSessionFile {
  readonly profile: 'codex' | 'gemini' | 'aider';
  /** Null for aider (no ids), or when the file does not say. */
  readonly sessionId: string | null;
  readonly cwd: string;
  readonly path: string;
  readonly mtimeMs: number;
}

/**
 * Finds the session file of the agent working in `cwd` (process `pid`, when known: a CLI whose
 * argv can move the file, as aider's, reads it); null when there is none.
 */
export type FindSession = (
  env: Env,
  cwd: string,
  pid?: number,
) => Promise<Result<AgentSessionFile | null, SessionFileError>>;

/**
 * Claude Code, Codex: "esc to interrupt" while working; Gemini: "esc to cancel"; Aider's spinner:
 * "Waiting for <model>" (it shows no esc hint).
 */
export const BUSY_MARKER = /esc to (?:interrupt|cancel)|Waiting for \S/i;
export const ALWAYS: Predicate = () => true;

export function hasNoCommand(name: string) {
  return (action: RungName): string => `the ${name} profile has no ${action} command`;
}

/** `argv` run from `cwd`, with the line people paste into a shell. */
export function resumeIn(cwd: string, argv: readonly string[]): ResumeCommand {
  return { cwd, argv, display: displayCommand(cwd, argv) };
}

/** What an archive's manifest records about the session (restore reads it back). */
export function agentManifestExtra(session: AgentSessionFile): Record<string, unknown> {
  return { profile: session.profile, sessionId: session.sessionId, cwd: session.cwd };
}

/**
 * The terminal CLIs other than Claude Code write no status file and no record of a typed command
 * that memgov reads yet, so: idle when the pane lacks the busy marker; taken at once (Enter is
 * not verified); finished when the pane is idle again (checked after the first poll).
 */
export function paneProbe(ports: ProfilePorts): RungProbe {
  const isIdle = paneLacks(ports.tmux, ports.target, BUSY_MARKER);
  let polls = 0;
  return {
    isIdle,
    taken: ALWAYS,
    finished: async () => {
      polls += 1;
      if (polls < 2 || !(await isIdle())) return { kind: 'pending' };
      return { kind: 'done', detail: 'the agent is idle again (no completion record is read)' };
    },
  };
}

export interface FileProfileSpec {
  readonly name: 'codex' | 'gemini' | 'aider';
  readonly commands: Readonly<Record<RungName, string | null>>;
  readonly find: FindSession;
  readonly resumeArgv: AgentProfile['resumeArgv'];
  readonly resumeCommand: (session: ArchivedSession) => ResumeCommand | null;
  readonly missingRung?: AgentProfile['missingRung'];
}

/** The session file of the live process `pid`, found from its cwd. */
async function sessionOf(
  pid: number,
  env: Env,
  find: FindSession,
): Promise<Result<AgentSessionFile | null, SessionFileError>> {
  const cwd = await readProcessCwd(pid);
  if (cwd.isErr()) return ok(null);
  return find(env, cwd.value, pid);
}

/** A profile whose session is one file found from the agent's cwd, driven by its pane. */
export function fileProfile(spec: FileProfileSpec): AgentProfile {
  return {
    name: spec.name,
    commands: spec.commands,
    missingRung: spec.missingRung ?? hasNoCommand(spec.name),
    enterKey: 'Enter',
    probe: (_action, _text, ports) => Promise.resolve(paneProbe(ports)),
    sessionSet: async (pid, env) =>
      (await sessionOf(pid, env, spec.find)).map((file) =>
        file === null
          ? null
          : { sources: [file.path], exclude: () => false, extraManifest: agentManifestExtra(file) },
      ),
    sessionId: async (pid, env) => {
      const found = await sessionOf(pid, env, spec.find);
      return found.isOk() ? (found.value?.sessionId ?? null) : null;
    },
    resumeArgv: spec.resumeArgv,
    startupPrompts: [],
    resumeCommand: spec.resumeCommand,
  };
}
