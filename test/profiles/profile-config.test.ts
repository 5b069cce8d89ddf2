// The agent settings the profiles and the tmux transport add: defaults, precise messages for bad
// values, and which transport is in effect.
import { describe, expect, it } from 'vitest';
import {
  defaultDaemonConfig,
  launchesInTmux,
  resolveDaemon,
  resolveTransport,
  type AgentConfig,
} from '../../machines/daemon-config.ts';
import { profileFor } from '../../agents/index.ts';

const base = defaultDaemonConfig('/data');
const agent = (overrides: Partial<AgentConfig>): AgentConfig => ({ ...base.agent, ...overrides });

describe('agent profile and tmux settings', () => {
  it('defaults: generic, no pane, the profile Enter key, busy policy skip, 30 s idle deadline', () => {
    expect(base.agent).toMatchObject({
      profile: 'generic',
      tmuxTarget: null,
      tmuxSocket: null,
      enterKey: null,
      busyPolicy: 'skip',
      idleDeadlineMs: 30_000,
    });
  });

  it('reads every new key', () => {
    const { config, issues } = resolveDaemon(
      {
        agent: {
          profile: 'claude-code',
          transport: 'tmux',
          tmuxTarget: 'agent:0.0',
          tmuxSocket: '/run/tmux.sock',
          enterKey: 'C-m',
          busyPolicy: 'interrupt',
          idleDeadlineMs: '5000',
        },
      },
      'test',
      base,
    );
    expect(issues).toEqual([]);
    expect(config.agent).toMatchObject({
      profile: 'claude-code',
      transport: 'tmux',
      tmuxTarget: 'agent:0.0',
      tmuxSocket: '/run/tmux.sock',
      enterKey: 'C-m',
      busyPolicy: 'interrupt',
      idleDeadlineMs: 5000,
    });
  });

  it('names the key and the value of each bad setting', () => {
    const { issues } = resolveDaemon(
      {
        agent: {
          profile: 'cursor',
          transport: 'pty',
          tmuxTarget: '',
          enterKey: 'Enter; kill-server',
          busyPolicy: 'wait',
          idleDeadlineMs: -1,
        },
      },
      'memgov.yaml',
      base,
    );
    expect(issues.map((i) => `${i.key}: ${i.message}`)).toEqual([
      'agent.profile: must be one of generic, claude-code, codex, gemini, aider (got "cursor")',
      'agent.transport: must be one of none, stdin, command, tmux (got "pty")',
      'agent.tmuxTarget: must be a non-empty string (got "")',
      'agent.enterKey: must be a tmux key name such as Enter or C-m (got "Enter; kill-server")',
      'agent.busyPolicy: must be one of interrupt, skip (got "wait")',
      'agent.idleDeadlineMs: must be a whole number from 0 to 86400000 (got -1)',
    ]);
  });

  it('resolves the transport: configured, a pane, a terminal CLI launched in tmux, stdin', () => {
    expect(resolveTransport(agent({ transport: 'command', tmuxTarget: 'a:0' }), false)).toBe(
      'command',
    );
    expect(resolveTransport(agent({ tmuxTarget: 'a:0' }), false)).toBe('tmux');
    expect(resolveTransport(agent({ profile: 'claude-code' }), true)).toBe('tmux');
    expect(resolveTransport(agent({ profile: 'claude-code' }), false)).toBe('none');
    expect(resolveTransport(agent({}), true)).toBe('stdin');
    expect(launchesInTmux(agent({ profile: 'generic', transport: 'tmux' }))).toBe(true);
    expect(launchesInTmux(agent({ profile: 'aider' }))).toBe(true);
    expect(launchesInTmux(agent({ profile: 'claude-code', transport: 'stdin' }))).toBe(false);
    expect(launchesInTmux(agent({}))).toBe(false);
  });
});

describe('profiles', () => {
  it('has the commands of each CLI', () => {
    const commands = (profile: AgentConfig['profile']) => profileFor(agent({ profile })).commands;
    expect(commands('claude-code')).toEqual({ compact: '/compact', clear: '/clear' });
    expect(commands('codex')).toEqual({ compact: '/compact', clear: '/new' });
    expect(commands('gemini')).toEqual({ compact: '/compress', clear: '/clear' });
    expect(commands('aider')).toEqual({ compact: null, clear: '/clear' });
    expect(commands('generic')).toEqual(base.agent.commands);
  });

  it('resumes Claude Code with exactly one --resume <sid>', () => {
    const claude = profileFor(agent({ profile: 'claude-code' }));
    expect(claude.resumeArgv(['claude', '--resume', 'old', '-c', '--model', 'x'], 'sid-1')).toEqual(
      ['claude', '--model', 'x', '--resume', 'sid-1'],
    );
    expect(claude.resumeArgv(['claude'], null)).toBeNull();
    // A wrapper keeps its own arguments (its -c is the shell's, not claude's --continue).
    expect(claude.resumeArgv(['sh', '-c', 'exec claude "$@"', 'claude'], 'sid-2')).toEqual([
      'sh',
      '-c',
      'exec claude "$@"',
      'claude',
      '--resume',
      'sid-2',
    ]);
    expect(claude.resumeArgv(['/usr/local/bin/claude', '-c'], 'sid-3')).toEqual([
      '/usr/local/bin/claude',
      '--resume',
      'sid-3',
    ]);
    expect(profileFor(agent({ profile: 'aider' })).resumeArgv(['aider'], null)).toEqual([
      'aider',
      '--restore-chat-history',
    ]);
  });
});
