// The codex profile's pure parts, with records and argvs as the real CLI 0.171.0 writes and takes
// them (docs/AGENTS.md, "Codex CLI, as the real CLI does it").
import { describe, expect, it } from 'vitest';
import { codexLaunchArgv, codexResumeArgv } from '../../agents/codex.ts';
import { openTurnAtMs, turnsSince } from '../../agents/codex-files.ts';

const event = (type: string, at: string) => ({
  timestamp: `2026-12-03T14:56:${at}Z`,
  type: 'event_msg',
  payload: { type },
});
const compacted = (at: string) => ({
  timestamp: `2026-12-03T14:56:${at}Z`,
  type: 'compacted',
  payload: { message: 'summary' },
});
const ms = (at: string) => Date.parse(`2026-12-03T14:56:${at}Z`);

describe('codex argv', () => {
  it('launches with the daemon disabled after the codex program, keeping env in front', () => {
    expect(codexLaunchArgv(['env', 'HOME=/h', '/bin/codex', '-m', 'x'])).toEqual([
      ...['env', 'HOME=/h', '/bin/codex', '--disable', 'daemon_auto_start', '-m', 'x'],
    ]);
    expect(codexLaunchArgv(['codex', '--enable', 'daemon_auto_start'])).toEqual([
      ...['codex', '--enable', 'daemon_auto_start'],
    ]);
    expect(codexLaunchArgv(['./wrapper.sh'])).toEqual(['./wrapper.sh']);
  });

  it('resumes in place of the original invocation; a wrapper gets resume <id> appended', () => {
    expect(codexResumeArgv(['env', 'A=1', 'codex', 'fix the bug'], 'id-1')).toEqual([
      ...['env', 'A=1', 'codex', 'resume', 'id-1'],
    ]);
    expect(codexResumeArgv(['./wrapper.sh'], 'id-1')).toEqual(['./wrapper.sh', 'resume', 'id-1']);
    expect(codexResumeArgv(['codex'], null)).toBeNull();
  });
});

describe('codex rollout turns', () => {
  it('a turn is open from task_started until task_complete or turn_aborted', () => {
    expect(openTurnAtMs([event('task_started', '01.000')])).toBe(ms('01.000'));
    expect(openTurnAtMs([event('task_started', '01.000'), event('task_complete', '02.000')])).toBe(
      null,
    );
    expect(openTurnAtMs([event('task_started', '01.000'), event('turn_aborted', '02.000')])).toBe(
      null,
    );
  });

  it('the command turn is the first begun since the probe: an answer ending then is not it', () => {
    const streaming = [event('task_started', '01.000'), event('task_complete', '05.000')];
    expect(turnsSince(streaming, ms('02.000'))).toEqual({
      ...{ started: false, ended: false, aborted: false, compacted: false },
    });
    const compact = [...streaming, event('task_started', '06.000'), compacted('09.000')];
    expect(turnsSince([...compact, event('task_complete', '09.100')], ms('02.000'))).toEqual({
      ...{ started: true, ended: true, aborted: false, compacted: true },
    });
  });
});
