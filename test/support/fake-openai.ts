// A fake OpenAI Responses API for the real Codex CLI (test/real-agents/codex-*): listens on
// 127.0.0.1 on an ephemeral port, answers `POST /v1/responses` with the SSE stream Codex reads
// (response.created, response.output_item.added, response.output_text.delta,
// response.output_item.done, response.completed), and logs every request so a test can assert
// what the CLI sent. Codex compacts with an ordinary streamed request whose last user text is its
// "CONTEXT CHECKPOINT COMPACTION" prompt; the fake answers that with a marked summary.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { isRecord } from '../../lib/record.ts';
import { pause } from '../../lib/time.ts';
import {
  DEFAULT_MODE,
  listenLocal,
  logRequest,
  splitChunks,
  type FakeAnthropicMode as FakeModelMode,
  type LoggedRequest,
} from './fake-anthropic.ts';

export type { FakeModelMode, LoggedRequest };

export interface FakeOpenAI {
  /** The provider base_url for Codex's config.toml (ends in /v1). */
  baseUrl: string;
  requests: LoggedRequest[];
  mode: FakeModelMode;
  /** The model turns (POST /v1/responses) seen so far. */
  turnRequests(): LoggedRequest[];
  close(): Promise<void>;
}

/** The start of the summary, so tests can find it in the rollout and in later requests. */
export const CODEX_SUMMARY_MARKER = 'FAKE-CODEX-SUMMARY';

/** The input_text/output_text texts of one Responses input item. */
function itemTexts(item: unknown): string[] {
  if (!isRecord(item) || !Array.isArray(item.content)) return [];
  return item.content.flatMap((c) => (isRecord(c) && typeof c.text === 'string' ? [c.text] : []));
}

/** The last user message's text of a Responses request body, '' when there is none. */
export function lastInputText(body: unknown): string {
  if (!isRecord(body) || !Array.isArray(body.input)) return '';
  const users = body.input.filter((i) => isRecord(i) && i.role === 'user');
  return itemTexts(users.at(-1)).join('\n');
}

/** Codex's compaction prompt (codex-rs core templates/compact/prompt.md) as the last user text. */
export function isCompactionRequest(body: unknown): boolean {
  return lastInputText(body).includes('CONTEXT CHECKPOINT COMPACTION');
}

function replyFor(body: unknown, mode: FakeModelMode): string {
  if (isCompactionRequest(body))
    return `${CODEX_SUMMARY_MARKER}: the user greeted the fake model and it replied.`;
  if (mode.bigReplyKb > 0) return 'x'.repeat(1023).concat('\n').repeat(mode.bigReplyKb);
  return mode.replyText;
}

function sse(res: ServerResponse, type: string, data: object): void {
  res.write(`event: ${type}\ndata: ${JSON.stringify({ type, ...data })}\n\n`);
}

function message(id: string, text: string | null) {
  const content = text === null ? [] : [{ type: 'output_text', text, annotations: [] }];
  return { type: 'message', id, role: 'assistant', status: 'completed', content };
}

let answered = 0;

async function streamReply(res: ServerResponse, body: unknown, mode: FakeModelMode) {
  const text = replyFor(body, mode);
  const responseId = `resp_fake_${(answered += 1)}`;
  const itemId = `msg_fake_${answered}`;
  await pause(mode.firstByteDelayMs + (isCompactionRequest(body) ? mode.summaryDelayMs : 0));
  res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
  sse(res, 'response.created', { response: { id: responseId, status: 'in_progress' } });
  sse(res, 'response.output_item.added', { output_index: 0, item: message(itemId, null) });
  for (const chunk of splitChunks(text, mode.chunkCount)) {
    sse(res, 'response.output_text.delta', { item_id: itemId, output_index: 0, delta: chunk });
    if (mode.chunkDelayMs > 0) await pause(mode.chunkDelayMs);
  }
  sse(res, 'response.output_item.done', { output_index: 0, item: message(itemId, text) });
  const outputTokens = Math.ceil(text.length / 4);
  const usage = {
    input_tokens: 100,
    output_tokens: outputTokens,
    total_tokens: 100 + outputTokens,
  };
  sse(res, 'response.completed', { response: { id: responseId, status: 'completed', usage } });
  res.end();
}

async function handle(req: IncomingMessage, res: ServerResponse, fake: FakeOpenAI) {
  const { method, path, body } = await logRequest(req, res, fake.requests);
  if (method === 'POST' && path.startsWith('/v1/responses')) {
    await streamReply(res, body, fake.mode);
    return;
  }
  res.writeHead(404, { 'content-type': 'application/json' });
  res.end(JSON.stringify({ error: { message: `the fake has no ${path}` } }));
}

/** Starts the fake on 127.0.0.1 with `mode` over the defaults (a short normal reply). */
export async function startFakeOpenAI(mode: Partial<FakeModelMode> = {}): Promise<FakeOpenAI> {
  const requests: LoggedRequest[] = [];
  const fullMode = { ...DEFAULT_MODE, ...mode };
  const fake: FakeOpenAI = {
    baseUrl: '',
    requests,
    mode: fullMode,
    turnRequests: () =>
      requests.filter((r) => r.method === 'POST' && r.path.startsWith('/v1/responses')),
    close: () => Promise.resolve(),
  };
  const server = await listenLocal((req, res) => handle(req, res, fake));
  fake.baseUrl = `http://127.0.0.1:${server.port}/v1`;
  fake.close = server.close;
  return fake;
}
