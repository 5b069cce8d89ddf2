// The tmux transport's typing protocol (docs/TRANSPORTS.md): types a command into the agent's
// pane the way a careful person would, and only when the agent is idle. Facts behind each step
// (docs/AGENTS.md): a command typed while Claude Code works is queued and may be dropped or sent
// to the model as text, so typeCommand waits for idle first; a draft is cleared with C-u, never
// Escape (Esc on an empty box opens a dialog); the text goes with `send-keys -l` and Enter follows
// as a separate call 150-500 ms later, since a back-to-back Enter can be taken as part of a paste;
// and because an Enter can still be lost, the command is verified as taken and Enter retried once.
import type { ResultAsync } from 'neverthrow';
import {
  literalTextProblem,
  oneLine,
  type Predicate,
  type Tmux,
  type TmuxError,
} from '../adapters/tmux.ts';
import { errorMessage } from '../lib/errors.ts';
import { toResult, type Settled } from './command.ts';
import type { Transport, TransportAction } from './transport.ts';
import { quoteValue } from '../lib/quote.ts';
import { pause } from '../lib/time.ts';

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

/** The options with every default filled in. */
type Resolved = Required<Omit<TypeCommandOptions, 'signal'>> & Pick<TypeCommandOptions, 'signal'>;

/** One typing: where, what, the options, and the notes that make up the result's detail. */
interface Typing {
  readonly tmux: Tmux;
  readonly target: string;
  readonly text: string;
  readonly o: Resolved;
  readonly notes: string[];
}

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

function detail(t: Typing, last: string): string {
  return [...t.notes, last].join('; ');
}

function failed(t: Typing, last: string): TypeCommandResult {
  return { outcome: 'failed', detail: detail(t, last) };
}

function skipped(t: Typing, last: string): TypeCommandResult {
  return { outcome: 'skipped', detail: detail(t, last) };
}

function stopped(t: Typing, when: string): TypeCommandResult {
  return failed(t, `stopped ${when}: ${String(t.o.signal?.reason ?? 'aborted')}`);
}

/** A wait that ended without its answer, as the result; null when the predicate held. */
function unmet(t: Typing, waited: Waited, when: string): TypeCommandResult | null {
  if (waited.kind === 'aborted') return stopped(t, when);
  if (waited.kind === 'pane-gone') return failed(t, waited.detail);
  return null;
}

/** Whether the pane can take keys; the reason when it cannot. */
async function paneGone(t: Typing): Promise<string | null> {
  const state = await t.tmux.panePid(t.target);
  if (state.isOk()) return null;
  const { kind } = state.error;
  // A slow or odd tmux answer says nothing about the pane: let the next poll decide.
  return kind === 'no-pane' || kind === 'no-server' || kind === 'no-tmux'
    ? state.error.detail
    : null;
}

async function waitFor(t: Typing, predicate: Predicate, limitMs: number): Promise<Waited> {
  const pollMs = Math.max(1, t.o.pollMs);
  const startMs = performance.now();
  let lastError: string | undefined;
  for (let asked = 1; ; asked++) {
    if (t.o.signal?.aborted === true) return { kind: 'aborted' };
    const gone = await paneGone(t);
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
    await pause(Math.min(pollMs, limitMs - waitedMs), t.o.signal);
  }
}

async function press(step: () => ResultAsync<void, TmuxError>): Promise<string | null> {
  const sent = await step();
  return sent.isOk() ? null : sent.error.detail;
}

/**
 * Step 1: waits for idle; past the deadline, the busy policy decides (skip, or interrupt once).
 * Null when the agent is idle and typing may go on.
 */
async function awaitIdle(
  t: Typing,
  startMs: number,
  state: { interrupted: boolean },
): Promise<TypeCommandResult | null> {
  const { o } = t;
  const leftMs = Math.max(0, o.idleDeadlineMs - (performance.now() - startMs));
  const idle = await waitFor(t, o.isIdle, leftMs);
  if (idle.kind === 'aborted' || idle.kind === 'pane-gone')
    return unmet(t, idle, 'while waiting for the agent to be idle');
  if (idle.kind === 'met') {
    if (idle.asked > 1) t.notes.push(`waited ${idle.waitedMs} ms for the agent to be idle`);
    return null;
  }
  const busyMs = Math.round(performance.now() - startMs);
  const why = idle.lastError === undefined ? '' : ` (idle check: ${idle.lastError})`;
  if (o.busyPolicy === 'skip' || state.interrupted)
    return skipped(t, `agent stayed busy for ${busyMs} ms${why}; skipped to the next tier`);
  const sent = await press(() => t.tmux.sendKey(t.target, o.interruptKey));
  if (sent !== null) return failed(t, `interrupting the busy agent: ${sent}`);
  state.interrupted = true;
  const after = await waitFor(t, o.isIdle, o.interruptIdleDeadlineMs);
  const lost = unmet(t, after, 'after interrupting the agent');
  if (lost !== null) return lost;
  if (after.kind === 'deadline') {
    return skipped(
      t,
      `agent stayed busy for ${busyMs} ms; sent ${o.interruptKey} to interrupt it, but it was still busy ${after.waitedMs} ms later; skipped to the next tier`,
    );
  }
  if (after.kind === 'met') {
    t.notes.push(
      `agent stayed busy for ${busyMs} ms; sent ${o.interruptKey} to interrupt it; idle ${after.waitedMs} ms later`,
    );
  }
  return null;
}

/**
 * Step 2: clears any draft, types the text, pauses, and looks once more before Enter.
 * `typed` when Enter may follow, `again` when the agent turned busy (the line was cleared).
 */
async function typeText(
  t: Typing,
  attempt: number,
): Promise<TypeCommandResult | 'typed' | 'again'> {
  const { o, tmux, target, text } = t;
  const typing =
    (await press(() => tmux.sendKey(target, o.clearKey))) ??
    (await press(() => tmux.sendLiteral(target, text)));
  if (typing !== null) return failed(t, `typing ${quoteValue(text)}: ${typing}`);
  await pause(o.enterDelayMs, o.signal);
  if (o.signal?.aborted === true) {
    // Best effort: leave no half-sent command behind for a later Enter to submit.
    const cleared = await press(() => tmux.sendKey(target, o.clearKey));
    return stopped(
      t,
      cleared === null
        ? 'before Enter (the typed text was cleared)'
        : `before Enter (the typed text could not be cleared: ${cleared})`,
    );
  }
  if ((await ask(o.isIdle)).yes) return 'typed';
  // An Enter now would queue the command behind the agent's work, where it may be dropped.
  const cleared = await press(() => tmux.sendKey(target, o.clearKey));
  if (cleared !== null) return failed(t, `clearing the typed text: ${cleared}`);
  if (attempt + 1 >= MAX_RETYPES) {
    return skipped(
      t,
      `agent turned busy between typing and Enter ${MAX_RETYPES} times; cleared the line; skipped to the next tier`,
    );
  }
  t.notes.push('agent turned busy before Enter: cleared the line and waited again');
  return 'again';
}

/** Step 3: Enter, then verify; Enter is retried once, and only into an idle agent. */
async function enterAndVerify(t: Typing): Promise<TypeCommandResult> {
  const { o, tmux, target, text } = t;
  const verifying = 'while verifying the command was taken';
  const enter = await press(() => tmux.sendKey(target, o.enterKey));
  if (enter !== null) return failed(t, `pressing ${o.enterKey}: ${enter}`);
  const first = await waitFor(t, o.taken, o.verifyDeadlineMs);
  const firstLost = unmet(t, first, verifying);
  if (firstLost !== null) return firstLost;
  if (first.kind === 'met')
    return {
      outcome: 'ok',
      detail: detail(t, `typed ${quoteValue(text)}; taken on the first Enter`),
    };
  const waitedMs = first.kind === 'deadline' ? first.waitedMs : 0;
  const notTaken = `typed ${quoteValue(text)}; not taken ${waitedMs} ms after ${o.enterKey}`;
  if (!(await ask(o.isIdle)).yes) {
    // Busy, perhaps with this very command: an Enter now could queue a second copy.
    const late = await waitFor(t, o.taken, o.verifyDeadlineMs);
    if (late.kind === 'met') {
      const last = `${notTaken}; the agent was busy, so no Enter retry; taken later`;
      return { outcome: 'ok', detail: detail(t, last) };
    }
    return (
      unmet(t, late, verifying) ??
      failed(t, `${notTaken}; the agent turned busy, so Enter was not retried; not taken`)
    );
  }
  const retry = await press(() => tmux.sendKey(target, o.enterKey));
  if (retry !== null) return failed(t, `${notTaken}; retrying ${o.enterKey}: ${retry}`);
  const second = await waitFor(t, o.taken, o.verifyDeadlineMs);
  if (second.kind === 'met')
    return { outcome: 'ok', detail: detail(t, `${notTaken}; taken after one Enter retry`) };
  const secondLost = unmet(t, second, verifying);
  if (secondLost !== null) return secondLost;
  // Leave no stale command in the input box for a later Enter to submit.
  const cleared = await press(() => tmux.sendKey(target, o.clearKey));
  return failed(
    t,
    `typed ${quoteValue(text)} but not taken after one Enter retry; ${cleared === null ? 'cleared the line' : `the line could not be cleared: ${cleared}`}`,
  );
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
  const t: Typing = {
    tmux,
    target,
    text,
    o: { ...DEFAULTS, ...stripUndefined(options) },
    notes: [],
  };
  const problem = literalTextProblem(text) ?? (target === '' ? 'no tmux target given' : null);
  if (problem !== null) return failed(t, `not typed: ${problem}`);
  const startMs = performance.now();
  const state = { interrupted: false };
  for (let attempt = 0; ; attempt++) {
    const idle = await awaitIdle(t, startMs, state);
    if (idle !== null) return idle;
    const typed = await typeText(t, attempt);
    if (typed === 'typed') return enterAndVerify(t);
    if (typed !== 'again') return typed;
  }
}

function stripUndefined<T extends object>(value: T): T {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as T;
}

/**
 * Whether a typed command has done its work; agents/profile.ts's Completion, restated here
 * because transports/ may not import agents/.
 */
export type RungCompletion =
  | { readonly kind: 'pending' }
  | { readonly kind: 'done'; readonly detail: string }
  | { readonly kind: 'failed'; readonly detail: string };

/** The checks for one typed command, built by the agent's profile before it is typed. */
export interface RungChecks {
  readonly isIdle: Predicate;
  readonly taken: Predicate;
  readonly finished: () => Promise<RungCompletion>;
}

export interface TmuxTransportOptions {
  readonly tmux: Tmux;
  readonly target: string;
  /** The profile's checks for typing `text` as `action`; rejects with the reason they could not be built. */
  readonly checksFor: (action: TransportAction, text: string) => Promise<RungChecks>;
  /** How typeCommand types (idle deadline, busy policy, Enter key...). */
  readonly typing: Omit<TypeCommandOptions, 'isIdle' | 'taken' | 'signal'>;
  /** How long a taken command gets to finish: real compactions take minutes. */
  readonly finishTimeoutMs: number;
  /** Told when one completion check threw; the wait goes on. */
  readonly onCheckFailed: (action: TransportAction, detail: string) => void;
  /** How often `finished` is asked. Default 250. */
  readonly finishPollMs?: number;
}

const FINISH_POLL_MS = 250;

/**
 * The tmux transport: types the command with typeCommand, then asks the profile's `finished`
 * until the command is done, refused, or `finishTimeoutMs` passed after it was taken.
 */
export function tmuxTransport(options: TmuxTransportOptions): Transport {
  return {
    send: (action, text, signal) => toResult(typeAndFollow(options, action, text, signal)),
  };
}

async function typeAndFollow(
  o: TmuxTransportOptions,
  action: TransportAction,
  text: string,
  signal: AbortSignal,
): Promise<Settled> {
  let checks: RungChecks;
  try {
    checks = await o.checksFor(action, text);
  } catch (error) {
    return { outcome: 'failed', detail: errorMessage(error) };
  }
  const typed = await typeCommand(o.tmux, o.target, text, {
    ...o.typing,
    isIdle: checks.isIdle,
    taken: checks.taken,
    signal,
  });
  if (typed.outcome !== 'ok') return typed;
  return followToFinish(o, action, checks, typed.detail, signal);
}

async function followToFinish(
  o: TmuxTransportOptions,
  action: TransportAction,
  checks: RungChecks,
  typedDetail: string,
  signal: AbortSignal,
): Promise<Settled> {
  const startedMs = performance.now();
  for (;;) {
    const done = await checks.finished().catch((error: unknown): RungCompletion => {
      o.onCheckFailed(action, errorMessage(error));
      return { kind: 'pending' };
    });
    const waitedMs = Math.round(performance.now() - startedMs);
    if (done.kind === 'done')
      return { outcome: 'ok', detail: `${typedDetail}; ${done.detail} after ${waitedMs} ms` };
    if (done.kind === 'failed')
      return { outcome: 'failed', detail: `${typedDetail}; ${done.detail}` };
    if (signal.aborted) {
      const reason = String(signal.reason);
      return {
        outcome: 'failed',
        detail: `${typedDetail}; stopped while waiting for it to finish: ${reason}`,
      };
    }
    if (waitedMs >= o.finishTimeoutMs) {
      const late = `not finished ${o.finishTimeoutMs} ms later`;
      return { outcome: 'timed-out', detail: `${typedDetail}; ${late}` };
    }
    await pause(Math.min(o.finishPollMs ?? FINISH_POLL_MS, o.finishTimeoutMs - waitedMs), signal);
  }
}
