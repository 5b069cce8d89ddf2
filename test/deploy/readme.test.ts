// The README is what a new user meets first: what and why, a quick start of two commands, a short
// "govern a real agent", then the reference; narrow enough to read in a terminal or on a phone,
// and its command table and exit codes in step with the CLI.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { runBundle } from '../support/cli.ts';

const README = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
const LINES = README.split('\n');
const MAX_COLUMNS = 100;

/** The `## ` headings in order. */
function topSections(): string[] {
  return LINES.filter((line) => line.startsWith('## ')).map((line) => line.slice(3));
}

/** The lines of one `## ` section, heading excluded. */
function section(title: string): string[] {
  const start = LINES.indexOf(`## ${title}`);
  expect(start, `README has no "## ${title}"`).toBeGreaterThanOrEqual(0);
  const next = LINES.findIndex((line, i) => i > start && line.startsWith('## '));
  return LINES.slice(start + 1, next === -1 ? undefined : next);
}

/** The commands of the first fenced block of a section, comments dropped. */
function firstBlockCommands(lines: readonly string[]): string[] {
  const open = lines.findIndex((line) => line.startsWith('```'));
  const close = lines.findIndex((line, i) => i > open && line.startsWith('```'));
  return lines
    .slice(open + 1, close)
    .map((line) => line.replace(/\s+#.*$/, '').trim())
    .filter((line) => line !== '');
}

describe('the README', () => {
  it('opens with what and why, then quick start, a real agent, and the reference', () => {
    const sections = topSections();
    expect(sections.slice(0, 3)).toEqual(['Quick start', 'Govern a real agent', 'Reference']);
    const intro = LINES.slice(0, LINES.indexOf('## Quick start')).join('\n');
    expect(intro).toContain('**Why.**');
    expect(intro).toMatch(/OOM killer/);
  });

  it('has a quick start of exactly two commands: the demo, then the tests', () => {
    expect(firstBlockCommands(section('Quick start'))).toEqual(['npm ci && npm start', 'npm test']);
    // How long each takes, said beside it.
    expect(section('Quick start').join('\n')).toMatch(/~\d+ s[\s\S]*~\d+ min/);
  });

  it('shows how to govern a real agent in about ten lines', () => {
    const body = section('Govern a real agent').filter((line) => line.trim() !== '');
    expect(body.length).toBeLessThanOrEqual(12);
    expect(firstBlockCommands(body).some((line) => line.startsWith('memgov run'))).toBe(true);
  });

  it('fits 100 columns on every line, tables included, and keeps diagrams in docs', () => {
    const wide = LINES.map((line, i) => ({ line: i + 1, columns: line.length })).filter(
      ({ columns }) => columns > MAX_COLUMNS,
    );
    expect(wide).toEqual([]);
    expect(README).not.toContain('```mermaid');
  });

  it('lists every command of `memgov --help` in its command table', () => {
    const help = runBundle(['--help']).stdout;
    const commands = [...help.matchAll(/^ {2}([a-z]+) {2,}/gm)].map((match) => match[1]);
    expect(commands.length).toBeGreaterThanOrEqual(9);
    const table = section('Reference').filter((line) => line.startsWith('| `memgov '));
    for (const command of commands) {
      expect(
        table.some((row) => row.startsWith(`| \`memgov ${command}`)),
        command,
      ).toBe(true);
    }
  });

  it('documents each of memgov exit codes', () => {
    const codes = section('Reference').filter((line) => /^- `\d` /.test(line));
    expect(codes.map((line) => line.slice(3, 4))).toEqual(['0', '1', '2', '3', '4']);
  });
});
