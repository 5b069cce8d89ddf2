// A fake Anthropic Messages API for the real agent CLIs (test/real-agents/): listens on
// 127.0.0.1 on an ephemeral port, answers `HEAD /` and `POST /v1/messages` with the SSE stream
// the real API sends (message_start, content_block_start, text_delta, content_block_stop,
// message_delta, message_stop), and logs every request so a test can assert what the agent sent.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { isRecord } from '../../lib/record.ts';
import { pause } from '../../lib/time.ts';

/** How the fake answers the next model turns; a test may change it between turns. */
export interface FakeAnthropicMode {
  /** The text of an ordinary reply. */
  replyText: string;
  /** When > 0, the reply is this many KB of text instead (grows the agent's memory). */
  bigReplyKb: number;
  /** Wait before the first byte of every answer. */
  firstByteDelayMs: number;
  /** Wait between text chunks (slow streaming); the reply is sent in `chunkCount` chunks. */
  chunkDelayMs: number;
  chunkCount: number;
  /** Extra wait before a compaction-summary answer (a real model takes minutes). */
  summaryDelayMs: number;
}

export interface LoggedRequest {
  method: string;
  path: string;
  /** The parsed JSON body, or the raw text when it is not JSON; '' for no body. */
  body: unknown;
  /** performance.now() when the request's body was read, and when its answer ended (or null). */
  receivedAtMs: number;
  answeredAtMs: number | null;
}

export interface FakeAnthropic {
  baseUrl: string;
  requests: LoggedRequest[];
  mode: FakeAnthropicMode;
  /** The model turns (POST /v1/messages) seen so far. */
  messageRequests(): LoggedRequest[];
  close(): Promise<void>;
}

/** The start of the summary, so tests can find it in the transcript and in later requests. */
export const SUMMARY_MARKER = 'FAKE-COMPACT-SUMMARY';

export const DEFAULT_MODE: FakeAnthropicMode = {
  replyText: 'FAKE-REPLY: hello from the fake model.',
  bigReplyKb: 0,
  firstByteDelayMs: 0,
  chunkDelayMs: 0,
  chunkCount: 1,
  summaryDelayMs: 0,
};

/** The texts of one message's content (a string or a list of blocks). */
function contentTexts(content: unknown): string[] {
  if (typeof content === 'string') return [content];
  if (!Array.isArray(content)) return [];
  return content.flatMap((b) => (isRecord(b) && typeof b.text === 'string' ? [b.text] : []));
}

/** The last user text of a Messages request body, '' when there is none. */
export function lastUserText(body: unknown): string {
  if (!isRecord(body) || !Array.isArray(body.messages)) return '';
  const users = body.messages.filter((m) => isRecord(m) && m.role === 'user');
  const last: unknown = users.at(-1);
  return isRecord(last) ? contentTexts(last.content).join('\n') : '';
}

/** Every text of a request body (system prompt and messages), for "did it carry X" checks. */
export function requestText(body: unknown): string {
  return JSON.stringify(body);
}

/** Claude Code's /compact prompt ends its last user text with a summary request. */
export function isSummaryRequest(body: unknown): boolean {
  const text = lastUserText(body);
  return /summary/i.test(text) && /TEXT ONLY|summar(y|ize) of the conversation/i.test(text);
}

function replyFor(body: unknown, mode: FakeAnthropicMode): string {
  if (isSummaryRequest(body))
    return `<summary>${SUMMARY_MARKER}: the user greeted the fake model and it replied.</summary>`;
  if (mode.bigReplyKb > 0) return 'x'.repeat(1023).concat('\n').repeat(mode.bigReplyKb);
  return mode.replyText;
}

function sse(res: ServerResponse, event: string, data: object): void {
  res.write(`event: ${event}\ndata: ${JSON.stringify({ type: event, ...data })}\n\n`);
}

export function splitChunks(text: string, count: number): string[] {
  const size = Math.max(1, Math.ceil(text.length / Math.max(1, count)));
  const chunks: string[] = [];
  for (let i = 0; i < text.length; i += size) chunks.push(text.slice(i, i + size));
  return chunks;
}

async function streamReply(res: ServerResponse, body: unknown, mode: FakeAnthropicMode) {
  const model = isRecord(body) && typeof body.model === 'string' ? body.model : 'fake-model';
  const text = replyFor(body, mode);
  const usage = { input_tokens: 100, output_tokens: Math.ceil(text.length / 4) };
  await pause(mode.firstByteDelayMs + (isSummaryRequest(body) ? mode.summaryDelayMs : 0));
  res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
  const message = { id: `msg_fake_${Date.now()}`, type: 'message', role: 'assistant', model };
  sse(res, 'message_start', {
    message: { ...message, content: [], stop_reason: null, usage: { ...usage, output_tokens: 1 } },
  });
  sse(res, 'content_block_start', { index: 0, content_block: { type: 'text', text: '' } });
  for (const chunk of splitChunks(text, mode.chunkCount)) {
    sse(res, 'content_block_delta', { index: 0, delta: { type: 'text_delta', text: chunk } });
    if (mode.chunkDelayMs > 0) await pause(mode.chunkDelayMs);
  }
  sse(res, 'content_block_stop', { index: 0 });
  sse(res, 'message_delta', { delta: { stop_reason: 'end_turn', stop_sequence: null }, usage });
  sse(res, 'message_stop', {});
  res.end();
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const parts: Buffer[] = [];
    req.on('data', (b: Buffer) => parts.push(b));
    req.on('end', () => resolve(Buffer.concat(parts).toString('utf8')));
    req.on('error', reject);
  });
}

function parseBody(raw: string): unknown {
  if (raw === '') return '';
  try {
    return JSON.parse(raw) as unknown;
  } catch {
    return raw;
  }
}

/** Reads `req`'s body and logs the request in `requests`; its answer's end is noted when sent. */
export async function logRequest(
  req: IncomingMessage,
  res: ServerResponse,
  requests: LoggedRequest[],
): Promise<LoggedRequest> {
  const body = parseBody(await readBody(req));
  const logged: LoggedRequest = {
    ...{ method: req.method ?? '', path: req.url ?? '/', body },
    ...{ receivedAtMs: performance.now(), answeredAtMs: null },
  };
  requests.push(logged);
  res.on('finish', () => (logged.answeredAtMs = performance.now()));
  return logged;
}

/** A server on 127.0.0.1 (an ephemeral port) answering with `handle`; a rejection drops the reply. */
export async function listenLocal(
  handle: (req: IncomingMessage, res: ServerResponse) => Promise<void>,
): Promise<{ port: number; close: () => Promise<void> }> {
  const server: Server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  server.on('request', (req: IncomingMessage, res: ServerResponse) => {
    handle(req, res).catch(() => res.destroy());
  });
  const { port } = server.address() as AddressInfo;
  const close = () =>
    new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    });
  return { port, close };
}

async function handle(req: IncomingMessage, res: ServerResponse, fake: FakeAnthropic) {
  const { body, path } = await logRequest(req, res, fake.requests);
  if (req.method === 'POST' && path.startsWith('/v1/messages')) {
    if (path.startsWith('/v1/messages/count_tokens')) {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ input_tokens: 100 }));
      return;
    }
    await streamReply(res, body, fake.mode);
    return;
  }
  res.writeHead(req.method === 'HEAD' || path === '/' ? 200 : 404);
  res.end();
}

/** Starts the fake on 127.0.0.1 with `mode` over the defaults (a short normal reply). */
export async function startFakeAnthropic(mode: Partial<FakeAnthropicMode> = {}) {
  const requests: LoggedRequest[] = [];
  const fullMode = { ...DEFAULT_MODE, ...mode };
  const fake: FakeAnthropic = {
    baseUrl: '',
    requests,
    mode: fullMode,
    messageRequests: () =>
      requests.filter((r) => r.method === 'POST' && r.path.startsWith('/v1/messages')),
    close: () => Promise.resolve(),
  };
  const server = await listenLocal((req, res) => handle(req, res, fake));
  fake.baseUrl = `http://127.0.0.1:${server.port}`;
  fake.close = server.close;
  return fake;
}
