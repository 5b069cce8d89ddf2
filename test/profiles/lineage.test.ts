// Session lineage without a CLI: the chain memgov keeps, the session claude-code picks from it
// (transcripts laid out as the real CLI writes them), and the resume `memgov restore` prints.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { sessionLineage } from '../../actors/lineage.ts';
import { memoryLog } from '../../actors/log.ts';
import { conversationSession } from '../../agents/claude-code.ts';
import { encodeCwd } from '../../agents/claude-code-parse.ts';
import { resumeFromManifest } from '../../agents/index.ts';

describe('sessionLineage', () => {
  it('keeps each id once, in the order first seen, and the last one seen', () => {
    const log = memoryLog();
    const lineage = sessionLineage(log);
    for (const id of ['a', null, 'a', 'b', 'a']) lineage.observe(id);
    expect(lineage.chain()).toEqual(['a', 'b']);
    expect(lineage.current()).toBe('a');
    expect(log.records.filter((r) => r.message === 'agent session seen')).toHaveLength(2);
  });
});

describe('conversationSession (claude-code)', () => {
  let home = '';
  const cwd = '/work/project';
  const write = (sessionId: string, records: object[]): void => {
    const dir = join(home, '.claude', 'projects', encodeCwd(cwd));
    mkdirSync(dir, { recursive: true });
    const lines = records.map((r) => JSON.stringify({ sessionId, ...r }));
    writeFileSync(join(dir, `${sessionId}.jsonl`), `${lines.join('\n')}\n`);
  };
  const at = (minute: number) => `2026-12-03T10:${String(minute).padStart(2, '0')}:00.000Z`;
  const answer = (minute: number) => ({ type: 'assistant', timestamp: at(minute) });
  const boundary = (minute: number) => ({
    type: 'system',
    subtype: 'compact_boundary',
    timestamp: at(minute),
  });
  const cleared = (minute: number) => ({
    type: 'user',
    timestamp: at(minute),
    message: { role: 'user', content: '<command-name>/clear</command-name>' },
  });
  beforeEach(() => {
    home = mkdtempSync(join(tmpdir(), 'memgov-lineage-'));
  });
  afterEach(() => rmSync(home, { recursive: true, force: true }));

  it('picks the session with the latest compact summary, not the newer cleared one', async () => {
    write('s1', [answer(1), boundary(2)]);
    write('s2', [answer(3), boundary(4), answer(5)]);
    write('s3', [cleared(6)]);
    expect(await conversationSession(['s1', 's2', 's3'], cwd, { HOME: home })).toEqual({
      sessionId: 's2',
      why: 'it holds the latest compact summary',
    });
  });

  it('without a summary the newest session with answers; with none, null', async () => {
    write('s1', [answer(1)]);
    write('s2', [cleared(2)]);
    const found = await conversationSession(['s1', 's2', 'missing'], cwd, { HOME: home });
    expect(found?.sessionId).toBe('s1');
    expect(await conversationSession(['s2'], cwd, { HOME: home })).toBeNull();
  });
});

describe('resumeFromManifest and the lineage', () => {
  it("resumes the manifest's resumeSessionId; an older manifest its sessionId", () => {
    const base = { profile: 'claude-code', cwd: '/work/project', sessionId: 'after-clear' };
    const withLineage = { ...base, lineage: ['conv', 'after-clear'], resumeSessionId: 'conv' };
    expect(resumeFromManifest(withLineage)?.command.argv).toEqual(['claude', '--resume', 'conv']);
    expect(resumeFromManifest(base)?.command.argv).toEqual(['claude', '--resume', 'after-clear']);
    const unsafe = { ...base, resumeSessionId: '../x' };
    expect(resumeFromManifest(unsafe)?.command.argv).toEqual(['claude', '--resume', 'after-clear']);
  });
});
