// The generic profile (docs/AGENTS.md): any CLI, driven by the commands the config names
// (`agent.commands`). It reads no idle, taken or completion signal and knows no session files
// (`archive.paths` are archived instead); it cannot resume a session.
import { ok } from 'neverthrow';
import type { AgentProfile, AgentSettings } from './profile.ts';
import { ALWAYS, hasNoCommand } from './terminal.ts';

export function genericProfile(settings: AgentSettings): AgentProfile {
  return {
    name: 'generic',
    commands: settings.commands,
    missingRung: hasNoCommand('generic'),
    enterKey: 'Enter',
    probe: () =>
      Promise.resolve({
        isIdle: ALWAYS,
        taken: ALWAYS,
        finished: () => Promise.resolve({ kind: 'done', detail: 'typed (no completion signal)' }),
      }),
    sessionSet: () => Promise.resolve(ok(null)),
    sessionId: () => Promise.resolve(null),
    resumeArgv: () => null,
    startupPrompts: [],
    resumeCommand: () => null,
  };
}
