// Lint setup: typed typescript-eslint rules, the neverthrow rule that every Result is used, the
// rooms' import rules (eslint.rooms.js), and a guard that keeps machines/ free of Node I/O and of
// the clock (the governor must stay pure and replayable), and a bound on function length.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import neverthrow from '@bufferings/eslint-plugin-neverthrow';
import { roomConfigs } from './eslint.rooms.js';

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', 'coverage/**', 'test/fixtures/**', '.bench-tmp/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    files: ['**/*.ts'],
    languageOptions: {
      parserOptions: {
        projectService: { allowDefaultProject: ['*.js'] },
        tsconfigRootDir: import.meta.dirname,
      },
    },
    plugins: { neverthrow },
    rules: {
      'neverthrow/must-use-result': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_' }],
      '@typescript-eslint/consistent-type-imports': 'error',
      'no-console': 'off',
    },
  },
  {
    files: ['machines/**/*.ts'],
    rules: {
      'no-restricted-properties': [
        'error',
        {
          object: 'Date',
          property: 'now',
          message: 'machines/ take time from events, never the clock.',
        },
      ],
      'no-restricted-globals': ['error', 'process', 'setTimeout', 'setInterval'],
    },
  },
  ...roomConfigs,
  {
    // Small functions: none over 100 lines. Machine definitions (one setup() call listing every
    // state) are exempt; tests and benches (describe blocks, scenario scripts) too.
    files: ['**/*.ts'],
    ignores: ['machines/**/*.machine.ts', 'test/**', 'bench/**'],
    rules: {
      'max-lines-per-function': [
        'error',
        { max: 100, skipBlankLines: true, skipComments: true, IIFEs: true },
      ],
    },
  },
  {
    // Tests inspect Results with expect() and _unsafeUnwrapErr, which the rule does not know.
    files: ['test/**/*.ts'],
    rules: { 'neverthrow/must-use-result': 'off' },
  },
  { files: ['**/*.js', '**/*.mjs'], ...tseslint.configs.disableTypeChecked },
  {
    files: ['**/*.js', '**/*.mjs'],
    languageOptions: { globals: { process: 'readonly', console: 'readonly', URL: 'readonly' } },
  },
);
