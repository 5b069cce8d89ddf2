// The live actor system for the Stately inspector (opt-in, docs/DESIGN.md#observability), without
// @statelyai/inspect's client (whose websocket retries every 5 s forever and keeps the process
// alive): memgov itself is the server. XState's raw inspection events become the messages the
// Stately inspector reads (`@xstate.actor`, `@xstate.event`, `@xstate.snapshot`, protocol of
// @statelyai/inspect 0.7), sanitised and size-bounded, and go to every connected websocket
// client. GET / serves a bridge page that frames https://stately.ai/inspect and relays the
// stream into it; reach it through `kubectl port-forward`. A client that connects late gets
// every live actor with its current snapshot first. Nothing here retries or keeps a timer.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import { ResultAsync } from 'neverthrow';
import type { WebSocket, WebSocketServer } from 'ws';
import type { InspectionEvent } from 'xstate';
import { errnoSummary } from './errno.ts';
import { serveHttp, type HttpEndpoint, type ListenError } from './metrics.ts';

/** The @statelyai/inspect protocol version these messages follow. */
const PROTOCOL_VERSION = '0.7.2';

/** A message larger than this (serialised) has its context left out; a definition, its states. */
export const MAX_MESSAGE_BYTES = 64 * 1024;
const MAX_DEFINITION_BYTES = 256 * 1024;
const MAX_STRING_CHARS = 400;
const MAX_ARRAY_ITEMS = 40;
const MAX_DEPTH = 12;
/** A viewer this far behind is dropped rather than buffered without bound. */
const MAX_CLIENT_BACKLOG_BYTES = 1024 * 1024;
/** Shorter values are too common to redact without shredding ordinary text. */
const MIN_SECRET_CHARS = 6;

const REDACTED = '[redacted]';
/** Keys whose values are never shown: environments, credentials, file contents. */
const SECRET_KEYS =
  /^(env|environment|password|passwd|token|secret|apikey|api_key|authorization|cookie|credentials|content|contents)$/i;
/** Keys holding a command line: only the program (argv[0]) is shown. */
const ARGV_KEYS = /(argv|^agentcommand|^args|^command)$/i;

export interface InspectorOptions {
  readonly host: string;
  readonly port: number;
  /** Text that must never leave the process (environment values, the agent's arguments). */
  readonly secrets: readonly string[];
}

export interface Inspector {
  /** XState's `inspect` observer: pass it to `createActor(machine, { inspect })`. */
  readonly observe: (event: InspectionEvent) => void;
  /** Binds the server once; on failure the inspector stays closed and collects nothing. */
  listen(): ResultAsync<HttpEndpoint, ListenError>;
  /** Drops every viewer and stops listening; safe to call more than once. */
  close(): Promise<void>;
}

/** The part of an actor ref the protocol needs (internals XState keeps on every ref). */
interface InspectedRef {
  readonly sessionId: string;
  readonly id?: string;
  readonly _parent?: { readonly sessionId: string };
  readonly logic?: { readonly config?: unknown };
  getSnapshot(): unknown;
}

interface LiveActor {
  readonly ref: InspectedRef;
  readonly rootId: string;
  readonly createdAt: string;
}

// ---------------------------------------------------------------------------------------------
// Sanitising: plain JSON only, bounded, without secrets.

interface Redactor {
  readonly secrets: readonly string[];
}

export function createRedactor(secrets: readonly string[]): Redactor {
  const unique = [...new Set(secrets.filter((s) => s.length >= MIN_SECRET_CHARS))];
  // Longest first, so a secret that contains another is redacted whole.
  return { secrets: unique.sort((a, b) => b.length - a.length) };
}

function redactString(redactor: Redactor, text: string, maxChars: number): string {
  let out = text;
  for (const secret of redactor.secrets)
    if (out.includes(secret)) out = out.split(secret).join(REDACTED);
  return out.length > maxChars ? `${out.slice(0, maxChars)}… (${out.length} chars)` : out;
}

interface Limits {
  readonly maxChars: number;
  readonly maxItems: number;
}

const VALUE_LIMITS: Limits = { maxChars: MAX_STRING_CHARS, maxItems: MAX_ARRAY_ITEMS };
/** Machine definitions: long lists of states are the point, strings are names. */
const DEFINITION_LIMITS: Limits = { maxChars: MAX_STRING_CHARS, maxItems: 1000 };

/**
 * A JSON-safe copy of `value`: toJSON honoured (snapshots, actor refs), functions shown by name,
 * cycles and depth cut, long strings and arrays shortened, secrets and secret keys redacted, and
 * command lines reduced to their program.
 */
export function sanitize(
  redactor: Redactor,
  value: unknown,
  limits: Limits = VALUE_LIMITS,
  depth = 0,
  seen: WeakSet<object> = new WeakSet(),
  argv = false,
): unknown {
  if (value === null || typeof value === 'boolean') return value;
  if (typeof value === 'number') return Number.isFinite(value) ? value : String(value);
  if (typeof value === 'string') return redactString(redactor, value, limits.maxChars);
  if (typeof value === 'bigint') return value.toString();
  if (typeof value === 'function') return { type: value.name === '' ? 'anonymous' : value.name };
  if (typeof value !== 'object') return undefined;
  if (depth >= MAX_DEPTH) return '[too deep]';
  if (seen.has(value)) return '[circular]';
  seen.add(value);
  try {
    if (value instanceof Error)
      return { name: value.name, message: redactString(redactor, value.message, limits.maxChars) };
    const withJson = value as { toJSON?: unknown };
    if (typeof withJson.toJSON === 'function') {
      const json: unknown = (withJson.toJSON as () => unknown).call(value);
      if (json !== value) return sanitize(redactor, json, limits, depth + 1, seen, argv);
    }
    if (Array.isArray(value)) {
      if (argv) {
        const program =
          value.length > 0 ? sanitize(redactor, value[0], limits, depth + 1, seen) : undefined;
        return value.length <= 1
          ? [program]
          : [program, `[${value.length - 1} arguments left out]`];
      }
      const items = value
        .slice(0, limits.maxItems)
        .map((item: unknown) => sanitize(redactor, item, limits, depth + 1, seen) ?? null);
      if (value.length > limits.maxItems) items.push(`[${value.length - limits.maxItems} more]`);
      return items;
    }
    if (value instanceof Map || value instanceof Set)
      return sanitize(redactor, [...value], limits, depth + 1, seen);
    const out: Record<string, unknown> = {};
    for (const [key, inner] of Object.entries(value)) {
      if (SECRET_KEYS.test(key)) {
        out[key] = REDACTED;
        continue;
      }
      const cleaned = sanitize(
        redactor,
        inner,
        limits,
        depth + 1,
        seen,
        argv || ARGV_KEYS.test(key),
      );
      if (cleaned !== undefined) out[key] = cleaned;
    }
    return out;
  } finally {
    seen.delete(value);
  }
}

// ---------------------------------------------------------------------------------------------
// Protocol messages.

function nameOf(ref: InspectedRef): string {
  const config = ref.logic?.config as { id?: unknown } | undefined;
  if ((ref.id === undefined || ref.id === ref.sessionId) && typeof config?.id === 'string')
    return config.id;
  return ref.id ?? ref.sessionId;
}

function definitionOf(
  redactor: Redactor,
  ref: InspectedRef,
  cache: WeakMap<object, string>,
): string {
  const config = ref.logic?.config;
  if (config === null || typeof config !== 'object') return JSON.stringify({ id: nameOf(ref) });
  const cached = cache.get(config);
  if (cached !== undefined) return cached;
  let text = JSON.stringify(sanitize(redactor, config, DEFINITION_LIMITS));
  if (text.length > MAX_DEFINITION_BYTES) text = JSON.stringify({ id: nameOf(ref) });
  cache.set(config, text);
  return text;
}

/** Serialises a message; one over the bound loses its context, then its event, then is dropped. */
function bounded(message: Record<string, unknown>): string | null {
  let text = JSON.stringify(message);
  if (text.length <= MAX_MESSAGE_BYTES) return text;
  const snapshot = message.snapshot as Record<string, unknown> | undefined;
  const leftOut = `[left out: the message was ${text.length} bytes]`;
  if (snapshot !== undefined) message.snapshot = { ...snapshot, context: leftOut };
  text = JSON.stringify(message);
  if (text.length <= MAX_MESSAGE_BYTES) return text;
  if (message.event !== undefined)
    message.event = { type: (message.event as { type?: unknown }).type, memgov: leftOut };
  text = JSON.stringify(message);
  return text.length <= MAX_MESSAGE_BYTES ? text : null;
}

function base(type: string, sessionId: string, rootId: string) {
  return {
    type,
    sessionId,
    rootId,
    id: null,
    createdAt: Date.now().toString(),
    _version: PROTOCOL_VERSION,
  };
}

// ---------------------------------------------------------------------------------------------
// The server.

/** The page behind GET /: the Stately inspector in a frame, fed from this server's websocket. */
const BRIDGE_PAGE = `<!doctype html>
<html lang="en">
<meta charset="utf-8">
<title>memgov actors: Stately inspector</title>
<style>html, body, iframe { margin: 0; width: 100%; height: 100%; border: 0; }</style>
<iframe id="stately" src="https://stately.ai/inspect"></iframe>
<script>
  // The inspector page announces '@statelyai.connected' once it listens; hold messages till then.
  const frame = document.getElementById('stately');
  const held = [];
  let listening = false;
  const forward = (message) => frame.contentWindow.postMessage(message, '*');
  window.addEventListener('message', (e) => {
    if (e.source !== frame.contentWindow || e.data?.type !== '@statelyai.connected') return;
    listening = true;
    held.splice(0).forEach(forward);
  });
  const socket = new WebSocket('ws://' + location.host + '/');
  socket.onmessage = (e) => {
    const message = JSON.parse(e.data);
    if (listening) forward(message);
    else held.push(message);
  };
  socket.onclose = () => (document.title = 'memgov actors: disconnected');
</script>
</html>
`;

const LOCAL_NAMES = new Set(['localhost', '127.0.0.1', '[::1]', '::1']);

/**
 * Browsers let any web page open a websocket to localhost: accept a request only for a local
 * host name (or the address bound), and from a page of this same server or from a non-browser
 * client (no Origin). This stops a page elsewhere, or a DNS-rebinding name, from reading it.
 */
function allowed(req: IncomingMessage, boundHost: string): boolean {
  const host = req.headers.host ?? '';
  const hostname = host.replace(/:\d+$/, '');
  if (!LOCAL_NAMES.has(hostname) && hostname !== boundHost) return false;
  const origin = req.headers.origin;
  return origin === undefined || origin === `http://${host}`;
}

/** What the relay shares with the server: the actors seen so far and the viewers connected. */
interface Hub {
  readonly redactor: Redactor;
  readonly definitions: WeakMap<object, string>;
  readonly live: Map<string, LiveActor>;
  readonly clients: Set<WebSocket>;
}

function actorMessage(hub: Hub, actor: LiveActor): string | null {
  return bounded({
    ...base('@xstate.actor', actor.ref.sessionId, actor.rootId),
    createdAt: actor.createdAt,
    name: nameOf(actor.ref),
    parentId: actor.ref._parent?.sessionId,
    definition: definitionOf(hub.redactor, actor.ref, hub.definitions),
    snapshot: sanitize(hub.redactor, actor.ref.getSnapshot()),
  });
}

/** Sends to every viewer; one that stopped reading (backlog over the bound) is dropped. */
function broadcast(hub: Hub, text: string | null): void {
  if (text === null) return;
  for (const client of hub.clients) {
    if (client.bufferedAmount > MAX_CLIENT_BACKLOG_BYTES) {
      client.terminate();
      hub.clients.delete(client);
    } else client.send(text);
  }
}

/** One inspection event: remembered (actors) and passed on to the viewers, when there are any. */
function relay(hub: Hub, event: InspectionEvent): void {
  const ref = event.actorRef as unknown as InspectedRef;
  switch (event.type) {
    case '@xstate.actor': {
      const actor = { ref, rootId: event.rootId, createdAt: Date.now().toString() };
      hub.live.set(ref.sessionId, actor);
      if (hub.clients.size > 0) broadcast(hub, actorMessage(hub, actor));
      return;
    }
    case '@xstate.event': {
      if (hub.clients.size === 0) return;
      const source = event.sourceRef as unknown as InspectedRef | undefined;
      broadcast(
        hub,
        bounded({
          ...base('@xstate.event', ref.sessionId, event.rootId),
          sourceId: source?.sessionId,
          event: sanitize(hub.redactor, event.event),
        }),
      );
      return;
    }
    case '@xstate.snapshot': {
      const status = (event.snapshot as { status?: unknown }).status;
      // A stopped actor (a restarted child's old self) is forgotten once viewers hear of it.
      if (status !== 'active') hub.live.delete(ref.sessionId);
      if (hub.clients.size === 0) return;
      broadcast(
        hub,
        bounded({
          ...base('@xstate.snapshot', ref.sessionId, event.rootId),
          event: sanitize(hub.redactor, event.event),
          snapshot: sanitize(hub.redactor, event.snapshot),
        }),
      );
      return;
    }
    default:
      return;
  }
}

export function createInspector(options: InspectorOptions): Inspector {
  const hub: Hub = {
    redactor: createRedactor(options.secrets),
    definitions: new WeakMap<object, string>(),
    live: new Map<string, LiveActor>(),
    clients: new Set<WebSocket>(),
  };
  const { live, clients } = hub;
  let wss: WebSocketServer | null = null;
  let endpoint: HttpEndpoint | null = null;
  let closed = false;

  // XState calls this inside the actors' own processing: nothing here may break governing.
  const observe = (event: InspectionEvent): void => {
    if (closed) return;
    try {
      relay(hub, event);
    } catch {
      // A value the sanitiser could not read (a throwing getter): this message is lost, no more.
    }
  };

  const onUpgrade = (req: IncomingMessage, socket: Duplex, head: Buffer): void => {
    if (wss === null || closed || !allowed(req, options.host)) {
      socket.end('HTTP/1.1 403 Forbidden\r\nConnection: close\r\n\r\n');
      return;
    }
    wss.handleUpgrade(req, socket, head, (client) => {
      clients.add(client);
      client.on('close', () => clients.delete(client));
      client.on('error', () => clients.delete(client));
      // Viewers only listen; anything they send is ignored.
      for (const actor of live.values()) {
        const text = actorMessage(hub, actor);
        if (text !== null) client.send(text);
      }
    });
  };

  const servePage = (req: IncomingMessage, res: ServerResponse): void => {
    if (!allowed(req, options.host)) {
      res.writeHead(403).end();
      return;
    }
    res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8', 'Cache-Control': 'no-store' });
    res.end(BRIDGE_PAGE);
  };

  const listen = (): ResultAsync<HttpEndpoint, ListenError> =>
    // ws is loaded here, so a daemon without --inspect never initialises it.
    ResultAsync.fromPromise(import('ws'), (error): ListenError => ({
      kind: 'failed',
      host: options.host,
      port: options.port,
      detail: `cannot load ws: ${errnoSummary(error)}`,
    }))
      .andThen((ws) => {
        wss = new ws.WebSocketServer({ noServer: true, maxPayload: 4096 });
        return serveHttp(servePage, options.host, options.port, (server) =>
          server.on('upgrade', onUpgrade),
        );
      })
      .map((bound) => {
        endpoint = bound;
        // Stopped while binding: close at once rather than serve a stopped daemon.
        if (closed) void close();
        return bound;
      })
      .mapErr((error) => {
        closed = true;
        live.clear();
        wss = null;
        return error;
      });

  async function close(): Promise<void> {
    closed = true;
    live.clear();
    for (const client of clients) client.terminate();
    clients.clear();
    wss?.close();
    wss = null;
    const bound = endpoint;
    endpoint = null;
    await bound?.close();
  }

  return { observe, listen, close };
}
