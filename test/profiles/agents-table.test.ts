// The agents/ table: one row per CLI the config can name, each row's profile under its own name,
// the same names as the config validates, and a manifest's profile looked up only among them.
import { describe, expect, it } from 'vitest';
import { AGENT_NAMES, AGENTS, profileFor, resumeFromManifest } from '../../agents/index.ts';
import { defaultDaemonConfig, PROFILE_NAMES } from '../../machines/daemon-config.ts';

const agent = defaultDaemonConfig('/data').agent;
const SID = '3f2b8c1e-7d4a-4e5b-9c6d-1a2b3c4d5e6f';

describe('the agents table', () => {
  it('names exactly the profiles the config accepts, in the same order', () => {
    expect(AGENT_NAMES).toEqual(PROFILE_NAMES);
  });

  it.each(AGENT_NAMES)('builds the %s profile under its own name', (name) => {
    const profile = profileFor({ ...agent, profile: name });
    expect(profile.name).toBe(name);
    expect(AGENTS[name]({ ...agent, profile: name }).name).toBe(name);
    expect(profile.enterKey).toBe('Enter');
  });

  it('gives the generic profile the configured commands and the others their own', () => {
    const commands = { compact: '/summarise', clear: null };
    expect(profileFor({ ...agent, profile: 'generic', commands }).commands).toEqual(commands);
    expect(profileFor({ ...agent, profile: 'claude-code', commands }).commands).toEqual({
      compact: '/compact',
      clear: '/clear',
    });
    expect(profileFor({ ...agent, profile: 'gemini', commands }).commands.compact).toBe(
      '/compress',
    );
  });

  it.each(['toString', '__proto__', 'constructor', 'generic'])(
    'resumes nothing for a manifest naming %s',
    (profile) => {
      expect(resumeFromManifest({ profile, sessionId: SID, cwd: '/w' })).toBeNull();
    },
  );

  it('asks the named profile for the resume command', () => {
    expect(resumeFromManifest({ profile: 'codex', sessionId: SID, cwd: '/w' })).toEqual({
      profile: 'codex',
      command: {
        cwd: '/w',
        argv: ['codex', 'resume', SID],
        display: `cd '/w' && codex resume ${SID}`,
      },
    });
  });
});
