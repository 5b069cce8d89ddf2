// The tmux client: pane pids, captures, keys and literal text, for the tmux transport
// (transports/tmux.ts, which owns the typing protocol) and the agent profiles' pane predicates.
// tmux runs through execFile with an argv array: no shell ever sees the text. Every call has a
// timeout, and every failure is a value: a vanished server or pane is `failed`, never a throw.
import { execFile, type ExecFileException } from 'node:child_process';
import { err, ok, ResultAsync, type Result } from 'neverthrow';
import { quoteValue } from '../lib/quote.ts';
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

/** `text` on one line, cut to a readable length (tmux's stderr, a predicate's error). */
export function oneLine(text: string): string {
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
