// A fake Google GenAI (Gemini API) for the real Gemini CLI (test/real-agents/gemini-*.test.ts):
// listens on 127.0.0.1 on an ephemeral port; answers `models/<m>:streamGenerateContent?alt=sse`
// (data-only SSE events, each a GenerateContentResponse), `:generateContent` (the two calls of
// /compress: a <state_snapshot> and its verification) and `:countTokens`; anything else gets
// `{}`. Every request is logged so a test can assert what the CLI sent, and when.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { isRecord } from '../../lib/record.ts';
import { pause } from '../../lib/time.ts';
import { listenLocal, logRequest, type LoggedRequest } from './fake-anthropic.ts';

/** How the fake answers the next model turns; a test may change it between turns. */
export interface FakeGeminiMode {
  /** The text of an ordinary reply. */
  replyText: string;
  /** When > 0, the reply is this many KB of text instead (grows the CLI's memory). */
  bigReplyKb: number;
  /** Wait before the first byte of every answer. */
  firstByteDelayMs: number;
  /** Wait between text chunks (slow streaming); the reply is sent in `chunkCount` chunks. */
  chunkDelayMs: number;
  chunkCount: number;
  /** Extra wait before a compression answer (a real model takes a while). */
  summaryDelayMs: number;
  /**
   * The prompt size reported in usageMetadata. /compress compares the history's estimated size
   * after compression with this, and refuses ("inflated") when the new one is larger.
   */
  promptTokenCount: number;
}

export type { LoggedRequest };

export interface FakeGemini {
  baseUrl: string;
  requests: LoggedRequest[];
  mode: FakeGeminiMode;
  /** The model calls (stream and non-stream generateContent) seen so far. */
  modelRequests(): LoggedRequest[];
  /** The chat turns (streamGenerateContent) seen so far. */
  turnRequests(): LoggedRequest[];
  close(): Promise<void>;
}

/** The text of the fake's <state_snapshot>, so tests can find it in later requests. */
export const SNAPSHOT_MARKER = 'FAKE-STATE-SNAPSHOT';

const DEFAULT_MODE: FakeGeminiMode = {
  replyText: 'FAKE-REPLY: hello from the fake Gemini model.',
  bigReplyKb: 0,
  firstByteDelayMs: 0,
  chunkDelayMs: 0,
  chunkCount: 1,
  summaryDelayMs: 0,
  promptTokenCount: 100_000,
};

/** The texts of one Content's parts. */
function partTexts(content: unknown): string[] {
  if (!isRecord(content) || !Array.isArray(content.parts)) return [];
  return content.parts.flatMap((p) => (isRecord(p) && typeof p.text === 'string' ? [p.text] : []));
}

/** The last user text of a generateContent body, '' when there is none. */
export function lastUserText(body: unknown): string {
  if (!isRecord(body) || !Array.isArray(body.contents)) return '';
  const users = body.contents.filter((c) => isRecord(c) && c.role === 'user');
  return partTexts(users.at(-1)).join('\n');
}

/** Every text of a request body (system instruction and contents), for "did it carry X". */
export function requestText(body: unknown): string {
  return JSON.stringify(body);
}

/** /compress asks for a <state_snapshot> (first call) and then for its critique (second). */
export function isCompressRequest(body: unknown): boolean {
  return lastUserText(body).includes('<state_snapshot>');
}

/** A value of the JSON schema: its required properties with plain values (strings 'fake'). */
export function valueOfSchema(schema: unknown): unknown {
  if (!isRecord(schema)) return 'fake';
  const type = typeof schema.type === 'string' ? schema.type.toLowerCase() : '';
  if (type === 'integer' || type === 'number') return 10;
  if (type === 'boolean') return false;
  if (type === 'array') return [];
  if (type !== 'object' || !isRecord(schema.properties)) return 'fake';
  const properties = schema.properties;
  const names = Array.isArray(schema.required) ? schema.required : Object.keys(properties);
  return Object.fromEntries(
    names.filter((n) => typeof n === 'string').map((n) => [n, valueOfSchema(properties[n])]),
  );
}

/**
 * The schema a helper call asks its answer to follow (the router's complexity score, the loop
 * check), or undefined for a chat turn.
 */
function jsonSchemaOf(body: unknown): unknown {
  const config = isRecord(body) && isRecord(body.generationConfig) ? body.generationConfig : {};
  if (config.responseMimeType !== 'application/json') return undefined;
  return config.responseJsonSchema ?? config.responseSchema ?? {};
}

function replyFor(body: unknown, mode: FakeGeminiMode): string {
  const schema = jsonSchemaOf(body);
  if (schema !== undefined) return JSON.stringify(valueOfSchema(schema));
  if (isCompressRequest(body))
    return `<state_snapshot>${SNAPSHOT_MARKER}: the user greeted the fake model.</state_snapshot>`;
  if (mode.bigReplyKb > 0) return 'x'.repeat(1023).concat('\n').repeat(mode.bigReplyKb);
  return mode.replyText;
}

/** One GenerateContentResponse; `finished` adds the finish reason and the full usage. */
function responseOf(text: string, mode: FakeGeminiMode, finished: boolean): object {
  const candidate = { content: { role: 'model', parts: [{ text }] }, index: 0 };
  const outputTokens = Math.ceil(text.length / 4);
  const usageMetadata = {
    promptTokenCount: mode.promptTokenCount,
    candidatesTokenCount: outputTokens,
    totalTokenCount: mode.promptTokenCount + outputTokens,
  };
  return {
    candidates: [finished ? { ...candidate, finishReason: 'STOP' } : candidate],
    usageMetadata,
    modelVersion: 'fake-gemini',
    responseId: `fake-${Date.now()}`,
  };
}

function splitChunks(text: string, count: number): string[] {
  const size = Math.max(1, Math.ceil(text.length / Math.max(1, count)));
  const chunks: string[] = [];
  for (let i = 0; i < text.length; i += size) chunks.push(text.slice(i, i + size));
  return chunks;
}

async function streamReply(res: ServerResponse, body: unknown, mode: FakeGeminiMode) {
  const chunks = splitChunks(replyFor(body, mode), mode.chunkCount);
  await pause(mode.firstByteDelayMs);
  res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
  for (const [i, chunk] of chunks.entries()) {
    const event = responseOf(chunk, mode, i === chunks.length - 1);
    res.write(`data: ${JSON.stringify(event)}\r\n\r\n`);
    if (mode.chunkDelayMs > 0 && i < chunks.length - 1) await pause(mode.chunkDelayMs);
  }
  res.end();
}

async function answerOnce(res: ServerResponse, body: unknown, mode: FakeGeminiMode) {
  await pause(mode.firstByteDelayMs + (isCompressRequest(body) ? mode.summaryDelayMs : 0));
  sendJson(res, responseOf(replyFor(body, mode), mode, true));
}

function sendJson(res: ServerResponse, value: object): void {
  res.writeHead(200, { 'content-type': 'application/json' });
  res.end(JSON.stringify(value));
}

/** The method name after the model (`streamGenerateContent`), '' for other paths. */
function modelMethod(path: string): string {
  const match = /\/models\/[^/:?]+:([A-Za-z]+)/.exec(path);
  return match?.[1] ?? '';
}

async function handle(req: IncomingMessage, res: ServerResponse, fake: FakeGemini) {
  const { body, path } = await logRequest(req, res, fake.requests);
  const method = modelMethod(path);
  if (method === 'streamGenerateContent') return streamReply(res, body, fake.mode);
  if (method === 'generateContent') return answerOnce(res, body, fake.mode);
  // A rough count (4 characters a token) is all the CLI needs to size its history.
  if (method === 'countTokens')
    return sendJson(res, { totalTokens: Math.ceil(requestText(body).length / 4) });
  sendJson(res, {});
}

/** Starts the fake on 127.0.0.1 with `mode` over the defaults (a short normal reply). */
export async function startFakeGemini(mode: Partial<FakeGeminiMode> = {}): Promise<FakeGemini> {
  const fake: FakeGemini = {
    baseUrl: '',
    requests: [],
    mode: { ...DEFAULT_MODE, ...mode },
    modelRequests: () => fake.requests.filter((r) => /enerateContent/.test(modelMethod(r.path))),
    turnRequests: () =>
      fake.requests.filter((r) => modelMethod(r.path) === 'streamGenerateContent'),
    close: () => Promise.resolve(),
  };
  const server = await listenLocal((req, res) => handle(req, res, fake));
  fake.baseUrl = `http://127.0.0.1:${server.port}`;
  fake.close = server.close;
  return fake;
}
