// The tmux settings as `memgov run` flags: mapped into the agent config layer, validated there,
// and a bad value exits 2 naming the flag. No daemon starts: every case fails validation.
import { describe, expect, test } from 'vitest';
import { runMain } from '../support/cli.ts';

describe('memgov run tmux flags', () => {
  test('a bad --busy-policy exits 2 naming the flag and the choices', async () => {
    const run = await runMain(['run', '--busy-policy', 'sometimes']);
    expect(run.code).toBe(2);
    expect(run.stdout).toBe('');
    expect(run.stderr).toBe(
      'memgov run: flag --busy-policy: agent.busyPolicy: must be one of interrupt, skip (got "sometimes")\n',
    );
  });

  test('a bad --resume exits 2 naming the flag and the choices', async () => {
    const run = await runMain(['run', '--resume', 'newest']);
    expect(run.code).toBe(2);
    expect(run.stderr).toBe(
      'memgov run: flag --resume: agent.resume: must be one of conversation, latest, none (got "newest")\n',
    );
  });

  test('a bad --enter-key exits 2 naming the flag', async () => {
    const run = await runMain(['run', '--enter-key', 'Return key']);
    expect(run.code).toBe(2);
    expect(run.stderr).toBe(
      'memgov run: flag --enter-key: agent.enterKey: must be a tmux key name such as Enter or C-m (got "Return key")\n',
    );
  });

  test('an empty --tmux-target or --tmux-socket is a usage error', async () => {
    for (const flag of ['--tmux-target=', '--tmux-socket=']) {
      const run = await runMain(['run', flag]);
      expect(run.code).toBe(2);
      expect(run.stderr).toBe(
        `memgov run: option ${flag.slice(0, -1)} needs a value (see memgov run --help)\n`,
      );
    }
  });

  test('good tmux flags are accepted: only the one bad value is reported', async () => {
    const run = await runMain([
      'run',
      '--tmux-target',
      'agent:0.0',
      '--tmux-socket',
      'memgov-test',
      '--busy-policy',
      'interrupt',
      '--enter-key',
      'C-m',
      '--agent-pid',
      '1',
    ]);
    expect(run.code).toBe(2);
    expect(run.stderr).toBe(
      'memgov run: flag --agent-pid: agent.pid: must be a whole number from 2 to 4194304 (got "1")\n',
    );
  });

  test('the help lists the tmux flags', async () => {
    const run = await runMain(['run', '--help']);
    expect(run.code).toBe(0);
    for (const flag of ['--tmux-target', '--tmux-socket', '--busy-policy', '--enter-key']) {
      expect(run.stdout).toContain(flag);
    }
  });
});
