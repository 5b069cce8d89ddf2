// The table of agent CLIs (docs/AGENTS.md): one row per file of this room. Adding a CLI is one
// new file implementing AgentProfile, its name in AgentName, and one row here; the compiler
// points at a missing row.
import { isAbsolute } from 'node:path';
import { isSafeSessionId } from '../adapters/session-files.ts';
import { aiderProfile } from './aider.ts';
import { claudeCodeProfile } from './claude-code.ts';
import { codexProfile } from './codex.ts';
import { geminiProfile } from './gemini.ts';
import { genericProfile } from './generic.ts';
import type {
  AgentFactory,
  AgentName,
  AgentProfile,
  AgentSettings,
  ResumeCommand,
} from './profile.ts';

export type {
  AgentName,
  AgentProfile,
  AgentSettings,
  Completion,
  ProfilePorts,
  ResumeCommand,
  RungProbe,
  SessionSet,
} from './profile.ts';

export const AGENTS: { readonly [Name in AgentName]: AgentFactory } = {
  generic: genericProfile,
  'claude-code': claudeCodeProfile,
  codex: codexProfile,
  gemini: geminiProfile,
  aider: aiderProfile,
};

/** Every profile name, in the table's order (the config's `agent.profile` choices). */
export const AGENT_NAMES = Object.keys(AGENTS) as readonly AgentName[];

/** No commands: what a profile is built with when only its session knowledge is wanted. */
const NO_SETTINGS: Omit<AgentSettings, 'profile'> = { commands: { compact: null, clear: null } };

function isAgentName(value: unknown): value is AgentName {
  return typeof value === 'string' && Object.hasOwn(AGENTS, value);
}

/** The profile named in the config; the generic one takes its commands from the config. */
export function profileFor(settings: AgentSettings): AgentProfile {
  return AGENTS[settings.profile](settings);
}

function safeId(value: unknown): string | null {
  return typeof value === 'string' && isSafeSessionId(value) ? value : null;
}

/**
 * The resume command an archive's manifest implies: `profile` (a manifest with a `sessionId` and
 * no profile is Claude Code's), `cwd` (absolute) and the session: `resumeSessionId` (the one of
 * the lineage holding the conversation, in manifests since lineage was recorded), else
 * `sessionId` (a safe path segment; each profile says whether it needs one). Null when the
 * manifest names no session memgov can resume.
 */
export function resumeFromManifest(
  manifest: Readonly<Record<string, unknown>>,
): { profile: AgentName; command: ResumeCommand } | null {
  const { cwd } = manifest;
  if (typeof cwd !== 'string' || !isAbsolute(cwd) || cwd.includes('\0')) return null;
  const sessionId = safeId(manifest.resumeSessionId) ?? safeId(manifest.sessionId);
  const profile =
    manifest.profile === undefined && sessionId !== null ? 'claude-code' : manifest.profile;
  if (!isAgentName(profile)) return null;
  const command = AGENTS[profile]({ profile, ...NO_SETTINGS }).resumeCommand({ cwd, sessionId });
  return command === null ? null : { profile, command };
}
