// The rooms' import rules bite: each fixture in test/fixtures/lint/ is linted with the rule that
// eslint.config.js gives a file of that room, and exactly the lines marked `// refused` fail.
// The fixtures restate docs/DESIGN.md's rooms table by hand, so the rule is checked against the
// table, not against itself.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ESLint, Linter } from 'eslint';
import tseslint from 'typescript-eslint';
import { describe, expect, it } from 'vitest';

const ROOT = join(import.meta.dirname, '..', '..');
const RULE = '@typescript-eslint/no-restricted-imports';
const ROOMS = [
  'machines',
  'actors',
  'agents',
  'transports',
  'adapters',
  'visualizations',
  'lib',
  'cli',
];

/** 1-based line numbers of the fixture's lines that carry `marker`. */
function linesMarked(text: string, marker: string): number[] {
  return text
    .split('\n')
    .flatMap((line, index) => (line.trimEnd().endsWith(`// ${marker}`) ? [index + 1] : []));
}

async function lintAsRoom(room: string): Promise<{ text: string; flagged: number[] }> {
  const text = readFileSync(join(ROOT, 'test/fixtures/lint', `${room}.ts`), 'utf8');
  const filename = join(ROOT, room, 'lint-fixture.ts');
  const config = (await new ESLint({ cwd: ROOT }).calculateConfigForFile(filename)) as {
    rules?: Record<string, Linter.RuleEntry>;
  };
  const rule = config.rules?.[RULE];
  expect(rule, `eslint.config.js gives ${room}/ no ${RULE} rule`).toBeDefined();
  const messages = new Linter({ configType: 'flat' }).verify(
    text,
    [
      {
        files: ['**/*.ts'],
        languageOptions: { parser: tseslint.parser },
        plugins: { '@typescript-eslint': tseslint.plugin as unknown as ESLint.Plugin },
        rules: { [RULE]: rule as Linter.RuleEntry },
      },
    ],
    { filename },
  );
  const fatal = messages.filter((m) => m.fatal === true);
  expect(fatal).toEqual([]);
  return { text, flagged: messages.filter((m) => m.ruleId === RULE).map((m) => m.line) };
}

describe('room import rules (eslint.config.js)', () => {
  for (const room of ROOMS) {
    it(`${room}/: refuses exactly the imports its row of the table forbids`, async () => {
      const { text, flagged } = await lintAsRoom(room);
      const refused = linesMarked(text, 'refused');
      expect(refused.length).toBeGreaterThan(0);
      expect(linesMarked(text, 'allowed').length).toBeGreaterThan(0);
      expect(flagged).toEqual(refused);
    });
  }

  it('names the room, what it may import and where the table is', async () => {
    const text = "import { runDaemon } from '../cli/daemon.ts';\n";
    const filename = join(ROOT, 'agents', 'lint-fixture.ts');
    const config = (await new ESLint({ cwd: ROOT }).calculateConfigForFile(filename)) as {
      rules: Record<string, Linter.RuleEntry>;
    };
    const [message] = new Linter({ configType: 'flat' }).verify(
      text,
      [
        {
          files: ['**/*.ts'],
          languageOptions: { parser: tseslint.parser },
          plugins: { '@typescript-eslint': tseslint.plugin as unknown as ESLint.Plugin },
          rules: { [RULE]: config.rules[RULE] as Linter.RuleEntry },
        },
      ],
      { filename },
    );
    expect(message?.message).toContain(
      'agents/ may import adapters/, lib/, not cli/ (docs/DESIGN.md, "Rooms")',
    );
  });
});
