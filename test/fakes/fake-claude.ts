// A fake Claude Code CLI for the tmux transport tests, run inside a tmux pane:
//   node --import tsx test/fakes/fake-claude.ts [options]
// It behaves like the real one where memgov depends on it (docs/AGENTS.md): a raw-mode
// input line (printable keys, Backspace, C-u, Enter, Escape); "esc to interrupt" on screen while
// busy; $CLAUDE_CONFIG_DIR/sessions/<pid>.json rewritten (temp + rename) on every status change; a
// JSONL transcript under projects/<encoded cwd>/ with the real record shapes for prompts, /compact
// (command, compact_boundary, isCompactSummary, local-command-stdout) and /clear (new session id,
// new file); a line submitted while busy is dropped; Escape on an empty idle box opens a dialog
// that swallows keys. Memory is real: touched 1 MiB buffers that grow and that /compact and
// /clear partly release. Every event goes to --debug-log, so tests can see what arrived when.
//
// Options (durations in ms):
//   --busy-ms N            a submitted prompt keeps it busy this long (2000)
//   --busy-pattern B/P     also busy for the last B ms of every P ms ("3000/5000", "3s/5s"); it
//                          starts idle; B >= P means always busy. Such busy spells cannot be
//                          interrupted (the agent is working on its own).
//   --compact-ms N         /compact keeps it busy this long (1500)
//   --lose-first-enter     the first Enter that would submit a line is ignored
//   --paste-window-ms N    an Enter within N ms of a typed character counts as pasted (ignored)
//   --start-mib N --grow-mib-per-s N --max-mib N --compact-frees-pct N --clear-frees-pct N
//   --resume SID           continue that transcript; --resume-prompt first shows the real
//                          CLI's select menu, "Resume from summary (recommended)" highlighted:
//                          Enter takes it, typed letters do nothing (status "waiting" till then)
//   --session-id SID       the first session id (default: a random UUID)
//   --debug-log FILE       append one line per event
// SIGTERM and SIGHUP: the session file is set to idle and it exits 0 (transcript lines are
// written synchronously, so nothing is left to flush).
import { randomUUID } from 'node:crypto';
import {
  appendFileSync,
  existsSync,
  mkdirSync,
  readFileSync,
  renameSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';

const VERSION = '2.0.0-fake';
const MIB = 1024 * 1024;
const GROW_TICK_MS = 100;

type Status = 'idle' | 'busy' | 'waiting';
type Mode = 'normal' | 'dialog' | 'resume-prompt';

function die(message: string): never {
  process.stderr.write(`fake-claude: ${message}\n`);
  process.exit(2);
}

function parseCommandLine() {
  try {
    return parseArgs({
      options: {
        'busy-ms': { type: 'string', default: '2000' },
        'busy-pattern': { type: 'string' },
        'compact-ms': { type: 'string', default: '1500' },
        'lose-first-enter': { type: 'boolean', default: false },
        'paste-window-ms': { type: 'string', default: '0' },
        'start-mib': { type: 'string', default: '0' },
        'grow-mib-per-s': { type: 'string', default: '0' },
        'max-mib': { type: 'string', default: '2048' },
        'compact-frees-pct': { type: 'string', default: '50' },
        'clear-frees-pct': { type: 'string', default: '80' },
        resume: { type: 'string' },
        'resume-prompt': { type: 'boolean', default: false },
        'session-id': { type: 'string' },
        'debug-log': { type: 'string' },
      },
      strict: true,
      allowPositionals: false,
    }).values;
  } catch (error) {
    die(error instanceof Error ? error.message : String(error));
  }
}

function parseOptions() {
  const values = parseCommandLine();
  const num = (name: keyof typeof values, max = Number.MAX_SAFE_INTEGER): number => {
    const text = values[name];
    const value = Number(text);
    if (typeof text !== 'string' || text === '' || !Number.isFinite(value) || value < 0) {
      die(`--${name} wants a number >= 0, got ${JSON.stringify(text)}`);
    }
    return Math.min(value, max);
  };
  return {
    busyMs: num('busy-ms'),
    busyPattern: values['busy-pattern'] === undefined ? null : parsePattern(values['busy-pattern']),
    compactMs: num('compact-ms'),
    loseFirstEnter: values['lose-first-enter'] === true,
    pasteWindowMs: num('paste-window-ms'),
    startMib: num('start-mib'),
    growMibPerS: num('grow-mib-per-s'),
    maxMib: num('max-mib'),
    compactFreesPct: num('compact-frees-pct', 100),
    clearFreesPct: num('clear-frees-pct', 100),
    resume: values.resume ?? null,
    resumePrompt: values['resume-prompt'] === true,
    sessionId: values['session-id'] ?? null,
    debugLog: values['debug-log'] ?? null,
  };
}

function parsePattern(text: string): { busyMs: number; periodMs: number } {
  const match = /^(\d+(?:\.\d+)?)(ms|s)?\/(\d+(?:\.\d+)?)(ms|s)?$/.exec(text);
  if (match === null) die(`--busy-pattern wants BUSY/PERIOD like 3000/5000 or 3s/5s, got ${text}`);
  const ms = (value: string | undefined, unit: string | undefined): number =>
    Number(value) * (unit === 's' ? 1000 : 1);
  const busyMs = ms(match[1], match[2]);
  const periodMs = ms(match[3], match[4]);
  if (periodMs <= 0) die('--busy-pattern: the period must be > 0');
  return { busyMs, periodMs };
}

/**
 * Field 22 of /proc/self/stat (start time in clock ticks after boot), as a decimal string: the
 * real CLI writes `"procStart":"20095994"`.
 */
function readProcStart(): string | null {
  try {
    const stat = readFileSync('/proc/self/stat', 'utf8');
    const field = stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
    return field !== undefined && /^\d+$/.test(field) ? field : null;
  } catch {
    return null;
  }
}

const opts = parseOptions();
const configDir = process.env.CLAUDE_CONFIG_DIR ?? join(homedir(), '.claude');
const cwd = process.cwd();
// `/` and `.` become `-` (newer versions fold every character outside [A-Za-z0-9] the same way).
const projectDir = join(configDir, 'projects', cwd.replace(/[^A-Za-z0-9]/g, '-'));
const sessionsDir = join(configDir, 'sessions');
const sessionFile = join(sessionsDir, `${process.pid}.json`);
const startedAt = Date.now();
const patternEpochMs = performance.now();
const procStart = readProcStart();

let sessionId: string = opts.resume ?? opts.sessionId ?? randomUUID();
let parentUuid: string | null = null;
let mode: Mode = 'normal';
let input = '';
let task: { kind: 'turn' | 'compact'; timer: NodeJS.Timeout } | null = null;
let patternBusy = false;
let enterLost = false;
let lastPrintableMs = -Infinity;
let writtenStatus: Status | null = null;
let writtenSessionId: string | null = null;
let exiting = false;
const screen: string[] = [];
const held: Buffer[] = [];

const transcriptPath = (): string => join(projectDir, `${sessionId}.jsonl`);

function log(event: string): void {
  if (opts.debugLog !== null) {
    appendFileSync(opts.debugLog, `${new Date().toISOString()} ${event}\n`);
  }
}

function say(line: string): void {
  screen.push(...line.split('\n'));
  if (screen.length > 200) screen.splice(0, screen.length - 200);
}

function status(): Status {
  if (mode === 'resume-prompt') return 'waiting';
  return task !== null || patternBusy ? 'busy' : 'idle';
}

function writeSessionFile(current: Status): void {
  mkdirSync(sessionsDir, { recursive: true });
  const temp = join(sessionsDir, `.${process.pid}.json.tmp`);
  const body = { pid: process.pid, sessionId, cwd, status: current, procStart, startedAt };
  writeFileSync(temp, `${JSON.stringify({ ...body, kind: 'interactive', version: VERSION })}\n`);
  renameSync(temp, sessionFile);
  writtenStatus = current;
  writtenSessionId = sessionId;
}

/** Brings the session file and the screen up to date after any event. */
function sync(): void {
  if (exiting) return;
  const current = status();
  if (current !== writtenStatus || sessionId !== writtenSessionId) {
    if (current !== writtenStatus) log(`status ${current}`);
    writeSessionFile(current);
  }
  render();
}

function clip(line: string, width: number): string {
  const chars = Array.from(line);
  return chars.length <= width ? line : chars.slice(0, width).join('');
}

function render(): void {
  if (!process.stdout.isTTY) return;
  const columns = Math.max(20, process.stdout.columns || 80);
  const rows = Math.max(6, process.stdout.rows || 24);
  const header = `✻ fake-claude ${VERSION} · session ${sessionId} · ${held.length} MiB`;
  const footer: string[] = [''];
  if (mode === 'dialog') footer.push('Rewind: pick a message to go back to (esc to cancel)');
  if (status() === 'busy') {
    footer.push(
      task?.kind === 'compact'
        ? '✻ Compacting conversation… (esc to interrupt)'
        : '✻ Working… (esc to interrupt)',
    );
  }
  if (mode === 'resume-prompt') {
    footer.push('❯ 1. Resume from summary (recommended)', '  2. Resume full session as-is');
  } else {
    const shown = Array.from(input.replace(/\n/g, '⏎'));
    footer.push(`> ${shown.slice(-(columns - 3)).join('')}`);
  }
  footer.push('  ? for shortcuts');
  const room = Math.max(0, rows - 1 - footer.length);
  const lines = [header, ...screen.slice(-room), ...footer].map((l) => clip(l, columns - 1));
  process.stdout.write(`\x1b[H\x1b[2J${lines.join('\r\n')}`);
}

/** Appends one transcript record; its uuid becomes the next record's parent. */
function appendRecord(fields: Record<string, unknown>, parent: string | null = parentUuid): string {
  const uuid = randomUUID();
  const record = {
    parentUuid: parent,
    isSidechain: false,
    userType: 'external',
    cwd,
    sessionId,
    version: VERSION,
    ...fields,
    uuid,
    timestamp: new Date().toISOString(),
  };
  mkdirSync(projectDir, { recursive: true });
  appendFileSync(transcriptPath(), `${JSON.stringify(record)}\n`);
  parentUuid = uuid;
  return uuid;
}

function userRecord(content: unknown, extra: Record<string, unknown> = {}): string {
  return appendRecord({ type: 'user', message: { role: 'user', content }, ...extra });
}

const commandContent = (name: string, args: string): string =>
  `<command-name>/${name}</command-name>\n            <command-message>${name}</command-message>\n            <command-args>${args}</command-args>`;

function hold(mib: number): void {
  for (let i = 0; i < mib && held.length < opts.maxMib; i++) {
    // fill() touches every page: the memory is resident, not just reserved.
    held.push(Buffer.allocUnsafeSlow(MIB).fill((held.length % 251) + 1));
  }
}

function release(pct: number): void {
  const count = Math.round((held.length * pct) / 100);
  held.splice(held.length - count, count);
  (globalThis as { gc?: () => void }).gc?.();
  log(`freed ${count} MiB; holding ${held.length} MiB`);
}

function startTask(kind: 'turn' | 'compact', ms: number, done: () => void): void {
  task = {
    kind,
    timer: setTimeout(() => {
      task = null;
      done();
      sync();
    }, ms),
  };
}

function interrupt(): void {
  if (task === null) {
    log('escape while busy on its own: nothing to interrupt');
    return;
  }
  clearTimeout(task.timer);
  log(`interrupted ${task.kind}`);
  task = null;
  userRecord([{ type: 'text', text: '[Request interrupted by user]' }]);
  say('  ⎿  Interrupted by user');
}

function compact(args: string): void {
  userRecord(commandContent('compact', args));
  startTask('compact', opts.compactMs, () => {
    let preTokens = 0;
    try {
      preTokens = Math.round(statSync(transcriptPath()).size / 4);
    } catch {
      // No transcript yet: nothing to count.
    }
    const previous = parentUuid;
    appendRecord(
      {
        type: 'system',
        subtype: 'compact_boundary',
        content: 'Conversation compacted',
        isMeta: false,
        level: 'info',
        logicalParentUuid: previous,
        compactMetadata: { trigger: 'manual', preTokens },
      },
      null,
    );
    userRecord(
      'This session is being continued from a previous conversation that ran out of context. The conversation is summarized below:\n(fake summary)',
      { isVisibleInTranscriptOnly: true, isCompactSummary: true },
    );
    userRecord('<local-command-stdout>Compacted</local-command-stdout>');
    release(opts.compactFreesPct);
    say('⎿  Compacted (ctrl+o to see full summary)');
  });
}

function clear(): void {
  const previous = sessionId;
  sessionId = randomUUID();
  parentUuid = null;
  userRecord(commandContent('clear', ''));
  userRecord('<local-command-stdout></local-command-stdout>');
  release(opts.clearFreesPct);
  screen.length = 0;
  say('(no content)');
  log(`clear ${previous} -> ${sessionId}`);
}

function submit(line: string): void {
  const trimmed = line.trim();
  if (trimmed === '') return;
  log(`submit ${JSON.stringify(line)}`);
  say(`> ${line}`);
  const command = /^\/(\S+)/.exec(trimmed)?.[1];
  if (command === 'compact') return compact(trimmed.slice('/compact'.length).trim());
  if (command === 'clear') return clear();
  if (command !== undefined) {
    say(`  ⎿  Unknown slash command: ${command}`);
    return;
  }
  userRecord(line);
  startTask('turn', opts.busyMs, () => {
    appendRecord({
      type: 'assistant',
      message: {
        id: `msg_${randomUUID()}`,
        type: 'message',
        role: 'assistant',
        model: 'fake',
        content: [{ type: 'text', text: `Done: ${line}` }],
        stop_reason: 'end_turn',
      },
    });
    say('⏺ Done.');
  });
}

/** Enter in the resume menu takes the highlighted choice, the summary (the only one here). */
function answerResume(): void {
  log('resume answer summary');
  mode = 'normal';
  say('Resuming from summary');
}

function onEnter(): void {
  if (mode === 'dialog') {
    mode = 'normal';
    log('dialog closed by Enter');
    return;
  }
  if (mode === 'resume-prompt') return answerResume();
  if (input === '') return;
  if (opts.loseFirstEnter && !enterLost) {
    enterLost = true;
    log('enter lost');
    return;
  }
  if (performance.now() - lastPrintableMs < opts.pasteWindowMs) {
    log('enter taken as part of a paste');
    return;
  }
  const line = input;
  input = '';
  if (status() !== 'idle') {
    log(`dropped while busy ${JSON.stringify(line)}`);
    return;
  }
  submit(line);
}

function onEscape(): void {
  if (mode === 'dialog') {
    mode = 'normal';
    log('dialog closed by Escape');
  } else if (mode === 'resume-prompt') {
    return;
  } else if (status() === 'busy') {
    interrupt();
  } else if (input !== '') {
    input = '';
  } else {
    mode = 'dialog';
    log('dialog opened');
  }
}

function onPrintable(char: string): void {
  if (mode === 'dialog') {
    log(`swallowed by the dialog ${JSON.stringify(char)}`);
  } else if (mode === 'resume-prompt') {
    log(`swallowed by the resume menu ${JSON.stringify(char)}`);
  } else {
    input += char;
    lastPrintableMs = performance.now();
  }
}

function dropLast(text: string): string {
  return Array.from(text).slice(0, -1).join('');
}

/** Final byte of a CSI or SS3 escape sequence. */
const isFinalByte = (char: string): boolean => char >= '@' && char <= '~';

function onKeys(chunk: string): void {
  const chars = Array.from(chunk);
  for (let i = 0; i < chars.length; i++) {
    const char = chars[i] ?? '';
    if (char === '\x1b') {
      const next = chars[i + 1];
      if (next === '[' || next === 'O') {
        // An arrow or function key: skip the sequence.
        i += 2;
        while (i < chars.length && !isFinalByte(chars[i] ?? '@')) i++;
        continue;
      }
      onEscape();
    } else if (char === '\r') {
      onEnter();
    } else if (char === '\x7f' || char === '\b') {
      if (mode === 'normal') input = dropLast(input);
    } else if (char === '\x15') {
      // C-u: delete to the start of the line (the cursor is always at the end here).
      if (mode === 'normal') input = '';
    } else if (char === '\x03') {
      if (status() === 'busy') interrupt();
      else input = '';
    } else if (char === '\n' || char >= ' ') {
      onPrintable(char);
    }
  }
}

function schedulePattern(): void {
  if (opts.busyPattern === null) return;
  const { busyMs, periodMs } = opts.busyPattern;
  if (busyMs >= periodMs) {
    patternBusy = true;
    return;
  }
  const idleMs = periodMs - busyMs;
  const phaseMs = (performance.now() - patternEpochMs) % periodMs;
  patternBusy = phaseMs >= idleMs;
  const nextMs = patternBusy ? periodMs - phaseMs : idleMs - phaseMs;
  setTimeout(
    () => {
      schedulePattern();
      sync();
    },
    Math.max(1, Math.ceil(nextMs)),
  );
}

function exit(code: number, why: string): void {
  if (exiting) return;
  exiting = true;
  if (task !== null) clearTimeout(task.timer);
  try {
    if (process.stdin.isTTY) process.stdin.setRawMode(false);
  } catch {
    // The terminal is gone already.
  }
  try {
    writeSessionFile('idle');
  } catch {
    // The config dir is gone: nothing to record.
  }
  log(`exit ${code} (${why})`);
  process.exit(code);
}

function start(): void {
  if (opts.resume !== null) {
    if (!existsSync(transcriptPath())) {
      process.stderr.write(`No conversation found with session ID: ${opts.resume}\n`);
      process.exit(1);
    }
    const lines = readFileSync(transcriptPath(), 'utf8').trim().split('\n');
    try {
      const last = JSON.parse(lines.at(-1) ?? '{}') as { uuid?: unknown };
      parentUuid = typeof last.uuid === 'string' ? last.uuid : null;
    } catch {
      parentUuid = null;
    }
    say(`Resumed session ${sessionId}`);
    if (opts.resumePrompt) mode = 'resume-prompt';
  }
  hold(opts.startMib);
  let owedMib = 0;
  if (opts.growMibPerS > 0) {
    setInterval(() => {
      owedMib += (opts.growMibPerS * GROW_TICK_MS) / 1000;
      const whole = Math.floor(owedMib);
      if (whole > 0) {
        owedMib -= whole;
        hold(whole);
        render();
      }
    }, GROW_TICK_MS);
  }
  process.on('SIGTERM', () => exit(0, 'SIGTERM'));
  process.on('SIGHUP', () => exit(0, 'SIGHUP'));
  process.stdout.on('error', () => exit(0, 'the terminal is gone'));
  process.stdout.on('resize', render);
  if (process.stdin.isTTY) process.stdin.setRawMode(true);
  process.stdin.setEncoding('utf8');
  process.stdin.on('data', (chunk: string) => {
    log(`keys status=${status()} mode=${mode} ${JSON.stringify(chunk)}`);
    onKeys(chunk);
    sync();
  });
  process.stdin.on('end', () => exit(0, 'stdin closed'));
  schedulePattern();
  log(`start pid=${process.pid} session=${sessionId} cwd=${cwd}`);
  sync();
}

start();
