// The shared opening of every command (cli/command.ts): a usage error is one line naming the
// problem and where the help is, and each command's --help is its own.
import { describe, expect, it } from 'vitest';
import { START_HELP } from '../../cli/commands/start.ts';
import { MAIN_HELP } from '../../cli/main.ts';
import { runMain } from '../support/cli.ts';

const COMMANDS = [
  'run',
  'start',
  'status',
  'replay',
  'timeline',
  'sample',
  'diagram',
  'demo',
  'restore',
];

describe('usage errors', () => {
  it.each(COMMANDS)('memgov %s --bogus: one line, exit 2, stdout empty', async (command) => {
    const run = await runMain([command, '--bogus']);
    expect(run).toEqual({
      code: 2,
      stdout: '',
      stderr: `memgov ${command}: unknown option --bogus (see memgov ${command} --help)\n`,
    });
  });

  it('run names the -- that an agent command needs', async () => {
    const run = await runMain(['run', 'claude']);
    expect(run.stderr).toBe(
      'memgov run: unexpected argument "claude" (put the agent command after --) (see memgov run --help)\n',
    );
  });

  it('start without --detach says so', async () => {
    const run = await runMain(['start']);
    expect(run).toEqual({
      code: 2,
      stdout: '',
      stderr: 'memgov start: needs --detach (see memgov start --help)\n',
    });
  });
});

describe('help', () => {
  it("start --help is start's own, not all of run's", async () => {
    const run = await runMain(['start', '--help']);
    expect(run).toEqual({ code: 0, stdout: START_HELP, stderr: '' });
    expect(START_HELP).not.toContain('--tmux-target');
  });

  it('the command list is aligned: every description starts in one column', () => {
    const rows = MAIN_HELP.split('\n').filter((line) => /^ {2}[a-z]+ {2,}\S/.test(line));
    expect(rows).toHaveLength(COMMANDS.length);
    const columns = new Set(rows.map((row) => /^ {2}[a-z]+ +/.exec(row)?.[0].length));
    expect(columns).toEqual(new Set([13]));
  });
});
