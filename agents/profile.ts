// The one interface every agent CLI implements (docs/AGENTS.md). A profile is data (its compact
// and clear commands, its Enter key, its resume prompt) plus small functions that build the checks
// a transport needs (idle, taken, finished or refused), find the files that make up a session, and
// say how to resume it. All I/O goes through adapters/; nothing here types into a pane or signals
// a process. The types this room shares with machines/ are declared here structurally, so agents/
// never imports machines/.
import type { Result } from 'neverthrow';
import type { ProcessIdentity } from '../adapters/proc.ts';
import type { Env, SessionFileError } from '../adapters/session-files.ts';
import type { Predicate, Tmux } from '../adapters/tmux.ts';

/** Every agent CLI memgov knows; one file under agents/ and one row of AGENTS each. */
export type AgentName = 'generic' | 'claude-code' | 'codex' | 'gemini' | 'aider';

/** The rungs a profile types a command for (the governor's compact and clear). */
export type RungName = 'compact' | 'clear';

/** What a profile reads of the agent config: its name, and the generic profile's commands. */
export interface AgentSettings {
  readonly profile: AgentName;
  readonly commands: Readonly<Record<RungName, string | null>>;
}

/** What a profile's checks may look at: the agent's pane and process, and where its files live. */
export interface ProfilePorts {
  readonly env: Env;
  readonly tmux: Tmux;
  readonly target: string;
  /** The agent's process id (the pane's process in launch mode); null when none is known. */
  readonly pid: number | null;
  /** Wall-clock milliseconds: session records carry wall-clock timestamps. */
  readonly now: () => number;
}

/**
 * Whether a typed command has done its work: pending, done (with what showed it), or failed (the
 * CLI refused it or reported an error, recorded at once rather than waited out).
 */
export type Completion =
  | { readonly kind: 'pending' }
  | { readonly kind: 'done'; readonly detail: string }
  | { readonly kind: 'failed'; readonly detail: string };

/** The checks for one command, built before it is typed so they compare with what was there. */
export interface RungProbe {
  /** True when the agent is idle: a command typed now is read, not lost in a streaming answer. */
  readonly isIdle: Predicate;
  /** True once the first sign shows that the CLI started the typed command. */
  readonly taken: Predicate;
  /** Polled after the command was taken, until it is not pending or the action times out. */
  readonly finished: () => Promise<Completion>;
}

/** The paths that make up one session, ready for `archiveSession`. */
export interface SessionSet {
  /** Existing paths only, in a fixed order. */
  readonly sources: readonly string[];
  /** Paths inside `sources` never archived (credentials). */
  readonly exclude: (relPath: string, absPath: string) => boolean;
  /** What `memgov restore` needs to print the resume command (`profile`, `sessionId`, `cwd`). */
  readonly extraManifest: Readonly<Record<string, unknown>>;
}

/** A session picked to resume, and the reason, for the log and the manifest. */
export interface SessionChoice {
  readonly sessionId: string;
  readonly why: string;
}

/** A question a CLI asks in its pane, and how memgov answers it. */
export interface StartupPrompt {
  /** A short name for the log: `resume-choice`, `trust`. */
  readonly name: string;
  /** Matches the pane while the question is on screen. */
  readonly shows: RegExp;
  /** tmux keys that take the answer memgov gives (its safe default); null: reported only. */
  readonly keys: readonly string[] | null;
}

/** A printable, runnable way back into a session. */
export interface ResumeCommand {
  readonly cwd: string;
  /** Run from `cwd`, never through a shell. */
  readonly argv: readonly string[];
  /** `cd '<cwd>' && <argv>`: for people to paste into a POSIX shell. */
  readonly display: string;
}

/** The session an archive's manifest names: an absolute cwd and, when the CLI has ids, one. */
export interface ArchivedSession {
  readonly cwd: string;
  /** A safe path segment, or null when the manifest names none. */
  readonly sessionId: string | null;
}

export interface AgentProfile {
  readonly name: AgentName;
  /** The text typed for each rung; null when the CLI has no such command. */
  readonly commands: Readonly<Record<RungName, string | null>>;
  /** Why a rung with no command is skipped (logged and returned as the action's detail). */
  readonly missingRung: (action: RungName) => string;
  readonly enterKey: string;
  /**
   * The agent's own process among `root` (the pane's process, or the pid memgov was given) and
   * its descendants, verified by start time: a shell or a wrapper in the pane is normal. Null
   * when none is recognised (the caller keeps `root`); absent: `root` is the agent. Never rejects.
   */
  readonly findAgent?: (root: ProcessIdentity, env: Env) => Promise<ProcessIdentity | null>;
  /** Builds the checks for typing `text` as `action` now. Never rejects. */
  readonly probe: (action: RungName, text: string, ports: ProfilePorts) => Promise<RungProbe>;
  /**
   * The current session's files (for tier 1's checkpoint and tier 3's archive), plus those of the
   * earlier sessions of `lineage` (ids since launch or attach, oldest first): after a /clear the
   * conversation is in the session before. Never rejects.
   */
  readonly sessionSet: (
    pid: number,
    env: Env,
    lineage?: readonly string[],
  ) => Promise<Result<SessionSet | null, SessionFileError>>;
  /**
   * Which session of `lineage` holds the conversation (the latest compact summary, else the
   * newest with a model answer), and why; null when the profile cannot tell (the caller resumes
   * the latest). Never rejects.
   */
  readonly conversationSession?: (
    lineage: readonly string[],
    cwd: string,
    env: Env,
  ) => Promise<SessionChoice | null>;
  /** The current session's id, when the CLI has one (remembered for the relaunch). */
  readonly sessionId: (pid: number, env: Env) => Promise<string | null>;
  /**
   * The argv that starts the CLI from the configured `argv` (first launch and relaunches alike),
   * such as with a flag that keeps it from spawning detached helpers; absent: `argv` as it is.
   */
  readonly launchArgv?: (argv: readonly string[]) => string[];
  /**
   * Why the CLI, launched with this environment, would not run as the interactive program memgov
   * drives (logged as a warning at each launch); null or absent: nothing known against it.
   */
  readonly launchWarning?: (env: Env) => string | null;
  /** The argv that resumes `sessionId` from the original `argv`; null: relaunch as it was. */
  readonly resumeArgv: (argv: readonly string[], sessionId: string | null) => string[] | null;
  /**
   * What the CLI may ask in its pane as it starts (a resume choice, a trust or first-run dialog),
   * checked in order. One with keys is answered with them; one without is reported, never typed
   * into: memgov cannot know the right answer to a question about trust.
   */
  readonly startupPrompts: readonly StartupPrompt[];
  /** The command `memgov restore` prints for an archived session; null when it cannot resume it. */
  readonly resumeCommand: (session: ArchivedSession) => ResumeCommand | null;
}

/** Builds a profile from the agent config (only the generic profile reads its commands). */
export type AgentFactory = (settings: AgentSettings) => AgentProfile;
