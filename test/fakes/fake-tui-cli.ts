// A fake Codex, Gemini or Aider terminal CLI for the tmux transport tests, run inside a tmux pane:
//   node --import tsx test/fakes/fake-tui-cli.ts --kind codex|gemini|aider [options]
// Where memgov depends on it (docs/AGENTS.md, agents/terminal.ts) it behaves like the
// real one: a raw-mode input line (printable keys, Backspace, C-u, Enter `\r`); a busy line on
// screen while working that holds the marker the profiles look for ("esc to interrupt" for codex
// and aider, "esc to cancel" for gemini); a line submitted while busy is dropped; the session
// artefacts the real CLI writes:
//   codex   $CODEX_HOME (default ~/.codex) /sessions/YYYY/MM/DD/rollout-<ts>-<uuid>.jsonl: a
//           session_meta first line (id, cwd), response_item messages, a `compacted` record after
//           /compact; /new starts a new rollout.
//   gemini  $GEMINI_CLI_HOME (default $HOME) /.gemini/tmp/<sha256 of cwd>/chats/session-*.jsonl
//           (and .project_root): a first line with the sessionId, message lines, a
//           {"type":"compressed"} line after /compress; /clear starts a new chat file.
//   aider   .aider.chat.history.md in the cwd: "# aider chat started at", "#### <input>" lines,
//           the replies; /clear appends "#### /clear". Aider has no compact command.
// Options (durations in ms):
//   --kind K               codex, gemini or aider (required)
//   --busy-ms N            an ordinary submitted line keeps it busy this long (2000)
//   --command-ms N         a slash command keeps it busy this long (800); its effect on the
//                          artefacts is written when it finishes
//   --debug-log FILE       append one line per event
// SIGTERM and SIGHUP: exit 0.
import { createHash, randomUUID } from 'node:crypto';
import { appendFileSync, mkdirSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';

const KINDS = ['codex', 'gemini', 'aider'] as const;
type Kind = (typeof KINDS)[number];

function die(message: string): never {
  process.stderr.write(`fake-tui-cli: ${message}\n`);
  process.exit(2);
}

function parseOptions() {
  let values;
  try {
    values = parseArgs({
      options: {
        kind: { type: 'string' },
        'busy-ms': { type: 'string', default: '2000' },
        'command-ms': { type: 'string', default: '800' },
        'debug-log': { type: 'string' },
      },
      strict: true,
      allowPositionals: false,
    }).values;
  } catch (error) {
    die(error instanceof Error ? error.message : String(error));
  }
  const kind = KINDS.find((k) => k === values.kind);
  if (kind === undefined) {
    die(`--kind wants codex, gemini or aider, got ${JSON.stringify(values.kind)}`);
  }
  const num = (name: 'busy-ms' | 'command-ms'): number => {
    const value = Number(values[name]);
    if (!Number.isFinite(value) || value < 0) die(`--${name} wants a number >= 0`);
    return value;
  };
  return {
    kind,
    busyMs: num('busy-ms'),
    commandMs: num('command-ms'),
    debugLog: values['debug-log'] ?? null,
  };
}

const opts = parseOptions();
const cwd = process.cwd();
const home = process.env.HOME ?? homedir();

/** What each CLI shows: its name, its prompt, its busy line. */
const LOOK: Record<Kind, { title: string; prompt: string; busy: string }> = {
  codex: { title: '>_ fake Codex', prompt: '› ', busy: '• Working (esc to interrupt)' },
  gemini: { title: 'fake Gemini CLI', prompt: '> ', busy: '⠋ Thinking… (esc to cancel)' },
  // The real spinner reads "Waiting for <model>"; the marker is what agents/terminal.ts looks for.
  aider: { title: 'fake aider', prompt: '> ', busy: 'Waiting for fake-model (esc to interrupt)' },
};

let input = '';
let busy: NodeJS.Timeout | null = null;
let exiting = false;
const screen: string[] = [];

function log(event: string): void {
  if (opts.debugLog !== null)
    appendFileSync(opts.debugLog, `${new Date().toISOString()} ${event}\n`);
}

function say(line: string): void {
  screen.push(line);
  if (screen.length > 200) screen.splice(0, screen.length - 200);
}

function render(): void {
  if (!process.stdout.isTTY || exiting) return;
  const columns = Math.max(20, process.stdout.columns || 80);
  const rows = Math.max(6, process.stdout.rows || 24);
  const look = LOOK[opts.kind];
  const footer = [''];
  if (busy !== null) footer.push(look.busy);
  footer.push(`${look.prompt}${input}`);
  const room = Math.max(0, rows - 2 - footer.length);
  const lines = [look.title, ...screen.slice(-room), ...footer].map((l) =>
    Array.from(l)
      .slice(0, columns - 1)
      .join(''),
  );
  process.stdout.write(`\x1b[H\x1b[2J${lines.join('\r\n')}`);
}

const stamp = (): string => new Date().toISOString();
const pad = (n: number): string => String(n).padStart(2, '0');

// ------------------------------------------------------------------------------------- artefacts

/** One conversation's store: what each CLI writes for a new conversation, a line, a compaction. */
interface Store {
  readonly start: () => void;
  readonly exchange: (line: string, reply: string) => void;
  readonly compact: () => void;
  readonly clear: () => void;
}

function codexStore(): Store {
  const root = join(process.env.CODEX_HOME ?? join(home, '.codex'), 'sessions');
  let path = '';
  const append = (type: string, payload: unknown): void =>
    appendFileSync(path, `${JSON.stringify({ timestamp: stamp(), type, payload })}\n`);
  const message = (role: string, text: string): void =>
    append('response_item', {
      type: 'message',
      role,
      content: [{ type: role === 'user' ? 'input_text' : 'output_text', text }],
    });
  const start = (): void => {
    const id = randomUUID();
    const d = new Date();
    const dir = join(root, String(d.getFullYear()), pad(d.getMonth() + 1), pad(d.getDate()));
    mkdirSync(dir, { recursive: true });
    const ts = `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}-${pad(d.getMinutes())}-${pad(d.getSeconds())}`;
    path = join(dir, `rollout-${ts}-${id}.jsonl`);
    append('session_meta', {
      id,
      timestamp: stamp(),
      cwd,
      originator: 'codex_cli_rs',
      cli_version: '0.0.0-fake',
    });
    log(`rollout ${path}`);
  };
  return {
    start,
    exchange: (line, reply) => {
      message('user', line);
      message('assistant', reply);
    },
    compact: () => append('compacted', { message: '(fake summary of the conversation)' }),
    clear: start,
  };
}

function geminiStore(): Store {
  const base = process.env.GEMINI_CLI_HOME ?? home;
  const project = join(base, '.gemini', 'tmp', createHash('sha256').update(cwd).digest('hex'));
  const chats = join(project, 'chats');
  let path = '';
  const append = (record: Record<string, unknown>): void =>
    appendFileSync(path, `${JSON.stringify({ timestamp: stamp(), ...record })}\n`);
  const start = (): void => {
    mkdirSync(chats, { recursive: true });
    writeFileSync(join(project, '.project_root'), cwd);
    const sessionId = randomUUID();
    path = join(
      chats,
      `session-${stamp().slice(0, 16).replace(':', '-')}-${sessionId.slice(0, 8)}.jsonl`,
    );
    append({ sessionId, projectHash: project.slice(project.lastIndexOf('/') + 1) });
    log(`chat ${path}`);
  };
  return {
    start,
    exchange: (line, reply) => {
      append({ type: 'user', content: line });
      append({ type: 'gemini', content: reply });
    },
    compact: () => append({ type: 'compressed', summary: '(fake compressed history)' }),
    clear: start,
  };
}

function aiderStore(): Store {
  const path = join(cwd, '.aider.chat.history.md');
  const append = (text: string): void => appendFileSync(path, text);
  return {
    start: () => append(`\n# aider chat started at ${stamp().slice(0, 19).replace('T', ' ')}\n\n`),
    exchange: (line, reply) => append(`#### ${line}\n\n${reply}\n\n`),
    compact: () => undefined,
    clear: () => append('#### /clear\n\n'),
  };
}

const store: Store = { codex: codexStore, gemini: geminiStore, aider: aiderStore }[opts.kind]();

/** Slash commands each CLI knows; the effect is written when the command's busy spell ends. */
const COMMANDS: Record<Kind, Readonly<Record<string, () => void>>> = {
  codex: { '/compact': store.compact, '/new': store.clear },
  gemini: { '/compress': store.compact, '/clear': store.clear },
  aider: { '/clear': store.clear, '/reset': store.clear },
};

// ------------------------------------------------------------------------------------------ input

function work(ms: number, done: () => void): void {
  busy = setTimeout(() => {
    busy = null;
    done();
    log('idle');
    render();
  }, ms);
  log(`busy ${ms} ms`);
}

function submit(line: string): void {
  const trimmed = line.trim();
  if (trimmed === '') return;
  log(`submit ${JSON.stringify(line)}`);
  say(`${LOOK[opts.kind].prompt}${line}`);
  if (trimmed.startsWith('/')) {
    const name = trimmed.split(/\s/)[0] ?? '';
    const effect = COMMANDS[opts.kind][name];
    if (effect === undefined) {
      say(`Unknown command: ${name}`);
      return;
    }
    work(opts.commandMs, () => {
      effect();
      log(`command ${name} done`);
      say(`${name} done`);
      // Gemini CLI 0.61.0's own line when /compress worked (docs/AGENTS.md).
      if (opts.kind === 'gemini' && name === '/compress')
        say('✦ Chat history compressed from 1200 to 300 tokens.');
    });
    return;
  }
  work(opts.busyMs, () => {
    store.exchange(line, `Done: ${line}`);
    say(`Done: ${line}`);
  });
}

function onKeys(chunk: string): void {
  for (const char of Array.from(chunk)) {
    if (char === '\r') {
      const line = input;
      input = '';
      if (line === '') continue;
      if (busy !== null) log(`dropped while busy ${JSON.stringify(line)}`);
      else submit(line);
    } else if (char === '\x7f' || char === '\b') {
      input = Array.from(input).slice(0, -1).join('');
    } else if (char === '\x15') {
      input = '';
    } else if (char >= ' ') {
      input += char;
    }
  }
}

function exit(code: number, why: string): void {
  if (exiting) return;
  exiting = true;
  if (busy !== null) clearTimeout(busy);
  try {
    if (process.stdin.isTTY) process.stdin.setRawMode(false);
  } catch {
    // The terminal is gone already.
  }
  log(`exit ${code} (${why})`);
  process.exit(code);
}

process.on('SIGTERM', () => exit(0, 'SIGTERM'));
process.on('SIGHUP', () => exit(0, 'SIGHUP'));
process.stdout.on('error', () => exit(0, 'the terminal is gone'));
process.stdout.on('resize', render);
if (process.stdin.isTTY) process.stdin.setRawMode(true);
process.stdin.setEncoding('utf8');
process.stdin.on('data', (chunk: string) => {
  log(`keys busy=${busy !== null} ${JSON.stringify(chunk)}`);
  onKeys(chunk);
  render();
});
process.stdin.on('end', () => exit(0, 'stdin closed'));
store.start();
log(`start kind=${opts.kind} pid=${process.pid} cwd=${cwd}`);
render();
