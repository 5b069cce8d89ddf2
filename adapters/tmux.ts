// The tmux transport (docs/DESIGN.md#agents-and-transports): types a command into the agent's pane the way a careful
// person would, and only when the agent is idle. Facts behind each step (docs/AGENTS.md):
// a command typed while Claude Code works is queued and may be dropped or sent to the model as
// text, so typeCommand waits for idle first; a draft is cleared with C-u, never Escape (Esc on an
// empty box opens a dialog); the text goes with `send-keys -l` and Enter follows as a separate call
// 150-500 ms later, since a back-to-back Enter can be taken as part of a paste; and because an
// Enter can still be lost, the command is verified as taken and Enter retried once.
// tmux runs through execFile with an argv array: no shell ever sees the text. Every call has a
// timeout, and every failure is a value: a vanished server or pane is `failed`, never a throw.
import { execFile, type ExecFileException } from 'node:child_process';
import { err, ok, ResultAsync, type Result } from 'neverthrow';
import { quoteValue } from '../lib/quote.ts';
import { pause } from '../lib/time.ts';
import { errorMessage } from '../lib/errors.ts';

export interface TmuxServerOptions {
  /** `-L NAME`: a named server in tmux's socket directory (tests use one of their own). */
  readonly socketName?: string;
  /** `-S PATH`: the server at this socket; wins over `socketName`. */
  readonly socketPath?: string;
  /** Each tmux call is killed after this long. Default 5000. */
  readonly callTimeoutMs?: number;
  /** The tmux program. Default `tmux`, found on PATH. */
  readonly binary?: string;
}

/**
 * no-server: no tmux server answers on the socket; no-pane: the target names no pane, or a dead
 * one; no-tmux: the program is missing; timeout: a call outran `callTimeoutMs`; bad-input: refused
 * before tmux was asked; failed: anything else tmux reported.
 */
export type TmuxErrorKind =
  'no-server' | 'no-pane' | 'no-tmux' | 'timeout' | 'bad-input' | 'failed';

export interface TmuxError {
  readonly kind: TmuxErrorKind;
  /** One line, fit for a log or an action's detail. */
  readonly detail: string;
}

export interface Tmux {
  /** Runs one tmux command (the argv after the server flags); ok with its stdout. */
  readonly run: (args: readonly string[]) => ResultAsync<string, TmuxError>;
  /** The pane's visible text, wrapped lines joined (`capture-pane -p -J`). */
  readonly capturePane: (target: string) => ResultAsync<string, TmuxError>;
  /**
   * Types `text` into the pane as characters (`send-keys -l`): no key names, no formats, no shell.
   * Refuses control characters (they would act as keys: CR submits, ^C interrupts) and empty text.
   */
  readonly sendLiteral: (target: string, text: string) => ResultAsync<void, TmuxError>;
  /** Presses one named key: `C-u`, `Enter`, `C-m`, `Escape`, `BSpace`, `F1`...; others refused. */
  readonly sendKey: (target: string, key: string) => ResultAsync<void, TmuxError>;
  /** Whether the pane exists and its process still runs; false when the server is gone too. */
  readonly paneAlive: (target: string) => ResultAsync<boolean, TmuxError>;
  /** The PID of the pane's process (`#{pane_pid}`); `no-pane` when it is gone or dead. */
  readonly panePid: (target: string) => ResultAsync<number, TmuxError>;
}

const DEFAULT_CALL_TIMEOUT_MS = 5_000;
/** A tmux command travels in one imsg of at most 16 KiB; stay well inside it. */
const MAX_LITERAL_BYTES = 8_192;
const STDERR_CHARS = 300;
/**
 * Key names sendKey accepts: up to three modifiers, then a named key or one printable ASCII
 * character other than `;` (a trailing `;` ends a tmux command). Text goes through sendLiteral.
 */
const KEY_NAME =
  /^(?:[CMS]-){0,3}(?:Enter|Escape|Tab|BTab|BSpace|Space|Up|Down|Left|Right|Home|End|PageUp|PgUp|PPage|PageDown|PgDn|NPage|IC|DC|Insert|Delete|F(?:[1-9]|1[0-2])|[!-:<-~])$/;

function oneLine(text: string): string {
  const line = text.trim().replace(/\s+/g, ' ');
  return line.length > STDERR_CHARS ? `${line.slice(0, STDERR_CHARS - 3)}...` : line;
}

/** Why `text` cannot be typed literally, or null when it can. */
export function literalTextProblem(text: string): string | null {
  if (text === '') return 'the text is empty';
  for (const char of text) {
    const code = char.codePointAt(0) ?? 0;
    if (code < 0x20 || (code >= 0x7f && code <= 0x9f)) {
      return `the text holds control character U+${code.toString(16).toUpperCase().padStart(4, '0')}: it would act as a key, not be typed`;
    }
  }
  const bytes = Buffer.byteLength(text, 'utf8');
  if (bytes > MAX_LITERAL_BYTES) return `the text is ${bytes} bytes; at most ${MAX_LITERAL_BYTES}`;
  return null;
}

/**
 * The argument that makes tmux type `text`: tmux reads an argument ending in `;` as the end of a
 * command (cmd-parse.y, cmd_parse_from_arguments) and turns a final `\;` into `;`, so a trailing
 * `;` is sent as `\;`. Nothing else in a send-keys argument is interpreted.
 */
function literalArgument(text: string): string {
  return text.endsWith(';') ? `${text.slice(0, -1)}\\;` : text;
}

function classify(
  error: ExecFileException,
  stderr: string,
  args: readonly string[],
  binary: string,
  timeoutMs: number,
): TmuxError {
  const command = args[0] ?? '';
  if (error.code === 'ENOENT') {
    return { kind: 'no-tmux', detail: `${binary} is not installed (or not on PATH)` };
  }
  if (error.killed === true || error.signal === 'SIGKILL') {
    return { kind: 'timeout', detail: `tmux ${command} did not answer within ${timeoutMs} ms` };
  }
  const said = oneLine(stderr);
  if (/no server running|error connecting to|server exited|lost server/i.test(said)) {
    return { kind: 'no-server', detail: `the tmux server is gone (${said})` };
  }
  if (/can't find (?:pane|window|session)/i.test(said)) {
    return { kind: 'no-pane', detail: `the tmux pane is gone (${said})` };
  }
  const how = typeof error.code === 'number' ? `exited with ${error.code}` : oneLine(error.message);
  return { kind: 'failed', detail: `tmux ${command} ${how}${said === '' ? '' : `: ${said}`}` };
}

interface PaneState {
  readonly paneId: string;
  readonly pid: number;
  readonly dead: boolean;
  readonly deadStatus: string;
}

/** Parses `#{pane_id}\t#{pane_pid}\t#{pane_dead}\t#{pane_dead_status}`; null when no pane matched. */
function parsePaneState(stdout: string): PaneState | null {
  const [paneId = '', pid = '', dead = '', deadStatus = ''] = stdout.replace(/\n$/, '').split('\t');
  // display-message prints the format with empty fields (and exits 0) for a target it cannot find.
  if (!paneId.startsWith('%') || !/^\d+$/.test(pid)) return null;
  return { paneId, pid: Number(pid), dead: dead === '1', deadStatus };
}

const PANE_STATE_FORMAT = '#{pane_id}\t#{pane_pid}\t#{pane_dead}\t#{pane_dead_status}';

/** A client for one tmux server. Nothing is checked or started until a call is made. */
export function createTmux(options: TmuxServerOptions = {}): Tmux {
  const binary = options.binary ?? 'tmux';
  const timeoutMs = options.callTimeoutMs ?? DEFAULT_CALL_TIMEOUT_MS;
  // -u: without a UTF-8 locale (LANG unset, as in many pods) tmux prints a tab in a format as `_`
  // and non-ASCII pane text as `_` too, which would break every parse of its output.
  const serverArgs = [
    '-u',
    ...(options.socketPath !== undefined
      ? ['-S', options.socketPath]
      : options.socketName !== undefined
        ? ['-L', options.socketName]
        : []),
  ];

  const run = (args: readonly string[]): ResultAsync<string, TmuxError> =>
    new ResultAsync(
      new Promise<Result<string, TmuxError>>((resolve) => {
        const settle = (failure: TmuxError | null, stdout: string): void =>
          resolve(failure === null ? ok(stdout) : err(failure));
        try {
          execFile(
            binary,
            [...serverArgs, ...args],
            { timeout: timeoutMs, killSignal: 'SIGKILL', encoding: 'utf8', maxBuffer: 4 << 20 },
            (error, stdout, stderr) =>
              settle(
                error === null ? null : classify(error, stderr, args, binary, timeoutMs),
                stdout,
              ),
          );
        } catch (error) {
          // execFile throws synchronously only for arguments it cannot pass (a NUL byte).
          const why = errorMessage(error);
          settle(
            { kind: 'bad-input', detail: `tmux ${args[0] ?? ''} not run: ${oneLine(why)}` },
            '',
          );
        }
      }),
    );

  const badInput = <T>(detail: string): ResultAsync<T, TmuxError> =>
    new ResultAsync(Promise.resolve(err({ kind: 'bad-input' as const, detail })));

  const checkTarget = (target: string): string | null =>
    // An empty -t means "the current pane" to tmux: never guess which pane that is.
    target === '' ? 'no tmux target given' : null;

  const paneState = (target: string): ResultAsync<PaneState, TmuxError> => {
    const problem = checkTarget(target);
    if (problem !== null) return badInput(problem);
    return run(['display-message', '-p', '-t', target, PANE_STATE_FORMAT]).andThen((stdout) => {
      const state = parsePaneState(stdout);
      return state === null
        ? err({ kind: 'no-pane' as const, detail: `the tmux pane is gone (no pane ${target})` })
        : ok(state);
    });
  };

  return {
    run,
    capturePane: (target) => {
      const problem = checkTarget(target);
      if (problem !== null) return badInput(problem);
      return run(['capture-pane', '-p', '-J', '-t', target]);
    },
    sendLiteral: (target, text) => {
      const problem = checkTarget(target) ?? literalTextProblem(text);
      if (problem !== null) return badInput(problem);
      return run(['send-keys', '-l', '-t', target, '--', literalArgument(text)]).map(() => {});
    },
    sendKey: (target, key) => {
      const problem =
        checkTarget(target) ?? (KEY_NAME.test(key) ? null : `${quoteValue(key)} is not a key name`);
      if (problem !== null) return badInput(problem);
      return run(['send-keys', '-t', target, key]).map(() => {});
    },
    paneAlive: (target) =>
      paneState(target)
        .map((state) => !state.dead)
        .orElse((e) => (e.kind === 'no-pane' || e.kind === 'no-server' ? ok(false) : err(e))),
    panePid: (target) =>
      paneState(target).andThen((state) =>
        state.dead
          ? err({
              kind: 'no-pane' as const,
              detail: `the process in tmux pane ${state.paneId} has exited${state.deadStatus === '' ? '' : ` with status ${state.deadStatus}`}`,
            })
          : ok(state.pid),
      ),
  };
}

/** A yes/no question about the agent; a rejection or throw counts as no. */
export type Predicate = () => boolean | Promise<boolean>;

/** What typeCommand does when the agent is still busy at the idle deadline. */
export type BusyPolicy = 'skip' | 'interrupt';

export interface TypeCommandOptions {
  /** Whether the agent waits for input now; the profile decides how (session file, pane text). */
  readonly isIdle: Predicate;
  /**
   * Whether the agent took the command (a new transcript record, the pane); polled after Enter.
   * Build it before the call, so it compares with what was there before the command was typed.
   */
  readonly taken: Predicate;
  /** How long to wait for idle before `busyPolicy` applies. */
  readonly idleDeadlineMs: number;
  /**
   * skip: give up at once (outcome `skipped`, so the governor moves to the next tier); interrupt:
   * press `interruptKey` once, wait up to `interruptIdleDeadlineMs` for idle, then type.
   */
  readonly busyPolicy: BusyPolicy;
  /** Default 200. */
  readonly pollMs?: number;
  /** Default `Escape` (Claude Code's "esc to interrupt"). */
  readonly interruptKey?: string;
  /** Default 5000. */
  readonly interruptIdleDeadlineMs?: number;
  /** Clears a draft before typing. Default `C-u`. */
  readonly clearKey?: string;
  /** Default `Enter`; some CLIs want `C-m`. */
  readonly enterKey?: string;
  /** Pause between the text and Enter. Default 300 (150-500 ms reported to work). */
  readonly enterDelayMs?: number;
  /** How long each Enter gets to show as taken. Default 3000. */
  readonly verifyDeadlineMs?: number;
  readonly signal?: AbortSignal;
}

/** Assignable to the executor's PerformResult. */
export interface TypeCommandResult {
  readonly outcome: 'ok' | 'failed' | 'skipped';
  readonly detail: string;
}

const DEFAULTS = {
  pollMs: 200,
  interruptKey: 'Escape',
  interruptIdleDeadlineMs: 5_000,
  clearKey: 'C-u',
  enterKey: 'Enter',
  enterDelayMs: 300,
  verifyDeadlineMs: 3_000,
} as const;
/** How often the agent may turn busy between the text and Enter before typeCommand gives up. */
const MAX_RETYPES = 3;

type Waited =
  | {
      readonly kind: 'met' | 'deadline';
      readonly waitedMs: number;
      /** How many times the predicate was asked. */
      readonly asked: number;
      readonly lastError?: string;
    }
  | { readonly kind: 'aborted' }
  | { readonly kind: 'pane-gone'; readonly detail: string };

async function ask(predicate: Predicate): Promise<{ yes: boolean; error?: string }> {
  try {
    return { yes: (await predicate()) === true };
  } catch (error) {
    return { yes: false, error: oneLine(errorMessage(error)) };
  }
}

/**
 * Types `text` into the agent's pane and presses Enter, only while the agent is idle, then checks
 * that it was taken (see the file comment for why each step). Resolves, never rejects: `ok` once
 * `taken` held (the detail says whether Enter had to be retried); `skipped` when the agent stayed
 * busy (nothing was typed); `failed` when the pane or server is gone, tmux failed, the command
 * was typed but not taken after one Enter retry, or `signal` aborted.
 */
export async function typeCommand(
  tmux: Tmux,
  target: string,
  text: string,
  options: TypeCommandOptions,
): Promise<TypeCommandResult> {
  const o = { ...DEFAULTS, ...stripUndefined(options) };
  const pollMs = Math.max(1, o.pollMs);
  const notes: string[] = [];
  const detail = (last: string): string => [...notes, last].join('; ');
  const failed = (last: string): TypeCommandResult => ({ outcome: 'failed', detail: detail(last) });
  const stopped = (when: string): TypeCommandResult =>
    failed(`stopped ${when}: ${String(o.signal?.reason ?? 'aborted')}`);

  const problem = literalTextProblem(text) ?? (target === '' ? 'no tmux target given' : null);
  if (problem !== null) return failed(`not typed: ${problem}`);

  /** Whether the pane can take keys; the reason when it cannot. */
  const paneGone = async (): Promise<string | null> => {
    const state = await tmux.panePid(target);
    if (state.isOk()) return null;
    const { kind } = state.error;
    // A slow or odd tmux answer says nothing about the pane: let the next poll decide.
    return kind === 'no-pane' || kind === 'no-server' || kind === 'no-tmux'
      ? state.error.detail
      : null;
  };

  const waitFor = async (predicate: Predicate, limitMs: number): Promise<Waited> => {
    const startMs = performance.now();
    let lastError: string | undefined;
    for (let asked = 1; ; asked++) {
      if (o.signal?.aborted === true) return { kind: 'aborted' };
      const gone = await paneGone();
      if (gone !== null) return { kind: 'pane-gone', detail: gone };
      const answer = await ask(predicate);
      if (answer.error !== undefined) lastError = answer.error;
      const waitedMs = Math.round(performance.now() - startMs);
      if (answer.yes) return { kind: 'met', waitedMs, asked };
      if (waitedMs >= limitMs) {
        return lastError === undefined
          ? { kind: 'deadline', waitedMs, asked }
          : { kind: 'deadline', waitedMs, asked, lastError };
      }
      await pause(Math.min(pollMs, limitMs - waitedMs), o.signal);
    }
  };

  const press = async (step: () => ResultAsync<void, TmuxError>): Promise<string | null> => {
    const sent = await step();
    return sent.isOk() ? null : sent.error.detail;
  };

  const startMs = performance.now();
  let interrupted = false;
  let typed = false;
  for (let attempt = 0; !typed; attempt++) {
    // 1. Wait for idle; past the deadline, the busy policy decides.
    const leftMs = Math.max(0, o.idleDeadlineMs - (performance.now() - startMs));
    const idle = await waitFor(o.isIdle, leftMs);
    if (idle.kind === 'aborted') return stopped('while waiting for the agent to be idle');
    if (idle.kind === 'pane-gone') return failed(idle.detail);
    if (idle.kind === 'met' && idle.asked > 1) {
      notes.push(`waited ${idle.waitedMs} ms for the agent to be idle`);
    }
    if (idle.kind === 'deadline') {
      const busyMs = Math.round(performance.now() - startMs);
      const why = idle.lastError === undefined ? '' : ` (idle check: ${idle.lastError})`;
      if (o.busyPolicy === 'skip' || interrupted) {
        return {
          outcome: 'skipped',
          detail: detail(`agent stayed busy for ${busyMs} ms${why}; skipped to the next tier`),
        };
      }
      const sent = await press(() => tmux.sendKey(target, o.interruptKey));
      if (sent !== null) return failed(`interrupting the busy agent: ${sent}`);
      interrupted = true;
      const after = await waitFor(o.isIdle, o.interruptIdleDeadlineMs);
      if (after.kind === 'aborted') return stopped('after interrupting the agent');
      if (after.kind === 'pane-gone') return failed(after.detail);
      if (after.kind === 'deadline') {
        return {
          outcome: 'skipped',
          detail: detail(
            `agent stayed busy for ${busyMs} ms; sent ${o.interruptKey} to interrupt it, but it was still busy ${after.waitedMs} ms later; skipped to the next tier`,
          ),
        };
      }
      notes.push(
        `agent stayed busy for ${busyMs} ms; sent ${o.interruptKey} to interrupt it; idle ${after.waitedMs} ms later`,
      );
    }

    // 2. Clear any draft, type the text, pause, and look once more before pressing Enter.
    const typing =
      (await press(() => tmux.sendKey(target, o.clearKey))) ??
      (await press(() => tmux.sendLiteral(target, text)));
    if (typing !== null) return failed(`typing ${quoteValue(text)}: ${typing}`);
    await pause(o.enterDelayMs, o.signal);
    if (o.signal?.aborted === true) {
      // Best effort: leave no half-sent command behind for a later Enter to submit.
      const cleared = await press(() => tmux.sendKey(target, o.clearKey));
      return stopped(
        cleared === null
          ? 'before Enter (the typed text was cleared)'
          : `before Enter (the typed text could not be cleared: ${cleared})`,
      );
    }
    if ((await ask(o.isIdle)).yes) {
      typed = true;
    } else {
      // An Enter now would queue the command behind the agent's work, where it may be dropped.
      const cleared = await press(() => tmux.sendKey(target, o.clearKey));
      if (cleared !== null) return failed(`clearing the typed text: ${cleared}`);
      if (attempt + 1 >= MAX_RETYPES) {
        return {
          outcome: 'skipped',
          detail: detail(
            `agent turned busy between typing and Enter ${MAX_RETYPES} times; cleared the line; skipped to the next tier`,
          ),
        };
      }
      notes.push('agent turned busy before Enter: cleared the line and waited again');
    }
  }

  // 3. Enter, then verify; retry Enter once, but only into an idle agent.
  const enter = await press(() => tmux.sendKey(target, o.enterKey));
  if (enter !== null) return failed(`pressing ${o.enterKey}: ${enter}`);
  const first = await waitFor(o.taken, o.verifyDeadlineMs);
  if (first.kind === 'aborted') return stopped('while verifying the command was taken');
  if (first.kind === 'pane-gone') return failed(first.detail);
  if (first.kind === 'met') {
    return { outcome: 'ok', detail: detail(`typed ${quoteValue(text)}; taken on the first Enter`) };
  }
  const notTaken = `typed ${quoteValue(text)}; not taken ${first.waitedMs} ms after ${o.enterKey}`;
  if (!(await ask(o.isIdle)).yes) {
    // Busy, perhaps with this very command: an Enter now could queue a second copy.
    const late = await waitFor(o.taken, o.verifyDeadlineMs);
    if (late.kind === 'met') {
      return {
        outcome: 'ok',
        detail: detail(`${notTaken}; the agent was busy, so no Enter retry; taken later`),
      };
    }
    if (late.kind === 'aborted') return stopped('while verifying the command was taken');
    if (late.kind === 'pane-gone') return failed(late.detail);
    return failed(`${notTaken}; the agent turned busy, so Enter was not retried; not taken`);
  }
  const retry = await press(() => tmux.sendKey(target, o.enterKey));
  if (retry !== null) return failed(`${notTaken}; retrying ${o.enterKey}: ${retry}`);
  const second = await waitFor(o.taken, o.verifyDeadlineMs);
  if (second.kind === 'met') {
    return { outcome: 'ok', detail: detail(`${notTaken}; taken after one Enter retry`) };
  }
  if (second.kind === 'aborted') return stopped('while verifying the command was taken');
  if (second.kind === 'pane-gone') return failed(second.detail);
  // Leave no stale command in the input box for a later Enter to submit.
  const cleared = await press(() => tmux.sendKey(target, o.clearKey));
  return failed(
    `typed ${quoteValue(text)} but not taken after one Enter retry; ${cleared === null ? 'cleared the line' : `the line could not be cleared: ${cleared}`}`,
  );
}

function stripUndefined<T extends object>(value: T): T {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as T;
}

/** A predicate: whether the pane shows `marker` now; false when the pane cannot be read. */
export function paneShows(tmux: Tmux, target: string, marker: string | RegExp): Predicate {
  return async () =>
    (await tmux.capturePane(target)).match(
      (text) => (typeof marker === 'string' ? text.includes(marker) : marker.test(text)),
      () => false,
    );
}

/** A predicate: whether the pane can be read and does not show `marker` (say, "esc to interrupt"). */
export function paneLacks(tmux: Tmux, target: string, marker: string | RegExp): Predicate {
  return async () =>
    (await tmux.capturePane(target)).match(
      (text) => !(typeof marker === 'string' ? text.includes(marker) : marker.test(text)),
      () => false,
    );
}
