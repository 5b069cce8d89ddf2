// Prometheus metrics for the daemon (opt-in, docs/DESIGN.md#observability): a private prom-client registry fed
// from the daemon's existing hooks (one update per decision, per action result, per restart; no
// timers of its own), served as text on GET /metrics by a plain node:http server. Also the
// listen-and-close helper the inspector shares: bind once, report a taken port as a value, never
// retry, and close every connection on shutdown so nothing keeps the process alive.
import type { IncomingMessage, RequestListener, Server, ServerResponse } from 'node:http';
import { readFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { ResultAsync } from 'neverthrow';
import type * as PromClient from 'prom-client';
import { errnoCode, errnoSummary } from './errno.ts';

/** What the governor decided at one sample, as the gauges show it. */
export interface MetricsDecision {
  readonly ratio: number;
  readonly limitBytes: number;
  readonly workingSetBytes: number;
  readonly tier: number;
  readonly pollIntervalMs: number;
  /** Kernel OOM kills the governor has counted (persisted across restarts). */
  readonly oomKills: number;
  /** Bytes of the agent's largest child subtree when the sample was attributed; else absent. */
  readonly toolBytes?: number;
  /** PSI `some avg10` at the sample (percent); absent when the kernel has no PSI. */
  readonly pressureSomeAvg10Pct?: number;
}

export interface MetricsResult {
  readonly action: string;
  readonly tier: number;
  readonly outcome: string;
  readonly durationMs: number;
}

/** The metrics port: cheap synchronous updates; `render` produces the exposition text. */
export interface DaemonMetrics {
  /** One sample the governor decided on. */
  decided(decision: MetricsDecision): void;
  /** The governor's active leaf states (`ladder.idle`, `polling.fast`...); the others go to 0. */
  governorStates(active: readonly string[]): void;
  actionFinished(result: MetricsResult): void;
  childRestarted(child: string): void;
  readFailed(): void;
  render(): Promise<string>;
  readonly contentType: string;
}

/** Action durations run from a typed command (milliseconds) to an archive (tens of seconds). */
const DURATION_BUCKETS_SECONDS = [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120];

/**
 * Builds the registry. prom-client is loaded here, on first use, so a daemon without
 * `--metrics` never parses or initialises it. `governorStates` lists every leaf state the gauge
 * may show, so each series exists (at 0) from the first scrape.
 */
export function createMetrics(options: {
  readonly governorStates: readonly string[];
}): ResultAsync<DaemonMetrics, string> {
  return ResultAsync.fromPromise(
    import('prom-client'),
    (error) => `cannot load prom-client: ${errnoSummary(error)}`,
  ).map((prom) => buildMetrics(prom, options.governorStates));
}

function buildMetrics(prom: typeof PromClient, states: readonly string[]): DaemonMetrics {
  const registry = new prom.Registry();
  const registers = [registry];
  const gauge = (name: string, help: string, labelNames: readonly string[] = []) =>
    new prom.Gauge({ name, help, labelNames, registers });
  const counter = (name: string, help: string, labelNames: readonly string[] = []) =>
    new prom.Counter({ name, help, labelNames, registers });

  const ratio = gauge(
    'memgov_memory_ratio',
    'Working set divided by the limit at the last sample.',
  );
  const limit = gauge('memgov_limit_bytes', 'Memory limit of the governed cgroup, in bytes.');
  const workingSet = gauge(
    'memgov_working_set_bytes',
    'Bytes the policy measured at the last sample (working set, or usage with metric=current).',
  );
  const tier = gauge(
    'memgov_tier',
    'Tier the governor stands at: 0 none, 1 compacted, 2 cleared, 3 tier 3 fired.',
  );
  const state = gauge(
    'memgov_governor_state',
    'Governor statechart leaf states: 1 for each active one, 0 for the others.',
    ['state'],
  );
  const pollInterval = gauge(
    'memgov_poll_interval_seconds',
    'Delay the governor chose before the next sample.',
  );
  const toolBytes = gauge(
    'memgov_tool_bytes',
    "Bytes of the agent's largest child subtree at the last sample (0 when none was attributed).",
  );
  const pressure = gauge(
    'memgov_memory_pressure_some_avg10',
    'PSI "some avg10" at the last sample: percent of the last 10 s in which a task stalled on memory (the cgroup on v2, the whole system on v1).',
  );
  const samples = counter('memgov_samples_total', 'Samples the governor decided on.');
  const readFailures = counter('memgov_sample_read_failures_total', 'Cgroup reads that failed.');
  const actions = counter('memgov_actions_total', 'Finished actions by tier, action and outcome.', [
    'tier',
    'action',
    'outcome',
  ]);
  const duration = new prom.Histogram({
    name: 'memgov_action_duration_seconds',
    help: 'How long each action took, from dispatch to result.',
    labelNames: ['action'],
    buckets: DURATION_BUCKETS_SECONDS,
    registers,
  });
  const oomKills = counter(
    'memgov_oom_kills_total',
    'Kernel OOM kills seen in the governed cgroup since this memgov started.',
  );
  const restarts = counter(
    'memgov_child_restarts_total',
    'Supervisor restarts of a failed child.',
    ['child'],
  );
  for (const child of ['sampler', 'governor', 'executor']) restarts.inc({ child }, 0);
  for (const name of states) state.set({ state: name }, 0);
  registerProcessMetrics(prom, registry);

  let oomKillsSeen: number | null = null;
  let activeStates: readonly string[] = [];
  return {
    decided: (decision) => {
      samples.inc();
      ratio.set(decision.ratio);
      limit.set(decision.limitBytes);
      workingSet.set(decision.workingSetBytes);
      tier.set(decision.tier);
      pollInterval.set(decision.pollIntervalMs / 1000);
      toolBytes.set(decision.toolBytes ?? 0);
      if (decision.pressureSomeAvg10Pct !== undefined) pressure.set(decision.pressureSomeAvg10Pct);
      // The governor's count survives restarts; this counter counts what this process saw.
      if (oomKillsSeen !== null && decision.oomKills > oomKillsSeen)
        oomKills.inc(decision.oomKills - oomKillsSeen);
      oomKillsSeen = decision.oomKills;
    },
    governorStates: (active) => {
      if (active.length === activeStates.length && active.every((s, i) => s === activeStates[i]))
        return;
      for (const name of activeStates) state.set({ state: name }, 0);
      for (const name of active) state.set({ state: name }, 1);
      activeStates = active;
    },
    actionFinished: (result) => {
      actions.inc({ tier: String(result.tier), action: result.action, outcome: result.outcome });
      duration.observe({ action: result.action }, result.durationMs / 1000);
    },
    childRestarted: (child) => restarts.inc({ child }),
    readFailed: () => readFailures.inc(),
    render: () => registry.metrics(),
    contentType: registry.contentType,
  };
}

/**
 * The standard process series, computed when scraped. Not prom-client's collectDefaultMetrics:
 * its event-loop-lag monitor wakes the process every 10 ms (see docs/OBSERVABILITY.md for the
 * measurement), against an idle CPU target of 0.1% of a core.
 */
function registerProcessMetrics(prom: typeof PromClient, registry: PromClient.Registry): void {
  const registers = [registry];
  const startSeconds = Math.round((Date.now() - process.uptime() * 1000) / 1000);
  new prom.Gauge({
    name: 'process_start_time_seconds',
    help: 'Start time of the process since the epoch, in seconds.',
    registers,
  }).set(startSeconds);
  new prom.Gauge({
    name: 'process_resident_memory_bytes',
    help: 'Resident memory size in bytes.',
    registers,
    collect() {
      this.set(process.memoryUsage.rss());
    },
  });
  new prom.Gauge({
    name: 'memgov_process_rss_anon_bytes',
    help: 'Anonymous resident memory (RssAnon of /proc/self/status) in bytes: the part the footprint target bounds.',
    registers,
    collect() {
      const anon = rssAnonBytes();
      if (anon !== null) this.set(anon);
    },
  });
  new prom.Counter({
    name: 'process_cpu_seconds_total',
    help: 'Total user and system CPU time spent in seconds.',
    registers,
    collect() {
      const usage = process.cpuUsage();
      this.reset();
      this.inc((usage.user + usage.system) / 1e6);
    },
  });
}

function rssAnonBytes(): number | null {
  try {
    const match = /^RssAnon:\s+(\d+) kB$/m.exec(readFileSync('/proc/self/status', 'utf8'));
    return match?.[1] === undefined ? null : Number(match[1]) * 1024;
  } catch {
    return null;
  }
}

// ---------------------------------------------------------------------------------------------
// HTTP endpoints (shared with the inspector).

export interface ListenError {
  readonly kind: 'in-use' | 'denied' | 'bad-host' | 'failed';
  readonly host: string;
  readonly port: number;
  readonly detail: string;
}

export function formatListenError(error: ListenError): string {
  const where = `${error.host}:${error.port}`;
  switch (error.kind) {
    case 'in-use':
      return `${where} is already in use (choose another port)`;
    case 'denied':
      return `not allowed to listen on ${where}: ${error.detail}`;
    case 'bad-host':
      return `cannot listen on ${where}: no such local address (${error.detail})`;
    case 'failed':
      return `cannot listen on ${where}: ${error.detail}`;
  }
}

export interface HttpEndpoint {
  /** The port bound (the kernel's choice when 0 was asked for). */
  readonly port: number;
  readonly host: string;
  /** Stops listening and drops every open connection; resolves once the server is closed. */
  close(): Promise<void>;
}

function listenErrorOf(error: unknown, host: string, port: number): ListenError {
  const code = errnoCode(error);
  const detail = errnoSummary(error);
  const kind =
    code === 'EADDRINUSE'
      ? 'in-use'
      : code === 'EACCES' || code === 'EPERM'
        ? 'denied'
        : code === 'EADDRNOTAVAIL' || code === 'ENOTFOUND' || code === 'EAI_AGAIN'
          ? 'bad-host'
          : 'failed';
  return { kind, host, port, detail };
}

/** Binds `server` once: a failure is a value, and the server is left closed (no retry). */
export function listenOnce(
  server: Server,
  host: string,
  port: number,
): ResultAsync<HttpEndpoint, ListenError> {
  const listening = new Promise<HttpEndpoint>((resolve, reject) => {
    const onError = (error: Error): void => {
      server.close();
      reject(error);
    };
    server.once('error', onError);
    server.listen({ host, port }, () => {
      server.off('error', onError);
      const bound = (server.address() as AddressInfo).port;
      resolve({ port: bound, host, close: () => closeServer(server) });
    });
  });
  return ResultAsync.fromPromise(listening, (error) => listenErrorOf(error, host, port));
}

/**
 * Creates an HTTP server for `handler` and binds it once. node:http is loaded here, on first use:
 * a daemon with neither endpoint never loads it (measured: 0.7 MiB of RssAnon, docs/DESIGN.md#targets).
 */
export function serveHttp(
  handler: RequestListener,
  host: string,
  port: number,
  prepare: (server: Server) => void = () => undefined,
): ResultAsync<HttpEndpoint, ListenError> {
  return ResultAsync.fromPromise(import('node:http'), (error): ListenError => ({
    kind: 'failed',
    host,
    port,
    detail: `cannot load node:http: ${errnoSummary(error)}`,
  })).andThen((http) => {
    const server = http.createServer(handler);
    prepare(server);
    return listenOnce(server, host, port);
  });
}

function closeServer(server: Server): Promise<void> {
  return new Promise((resolve) => {
    if (!server.listening) {
      resolve();
      return;
    }
    server.close(() => resolve());
    // Keep-alive sockets (a Prometheus scraper, a browser) would hold close() open indefinitely.
    server.closeAllConnections();
  });
}

function answer(res: ServerResponse, status: number, type: string, body: string): void {
  res.writeHead(status, { 'Content-Type': type, 'Cache-Control': 'no-store' });
  res.end(body);
}

/** Serves GET /metrics; every other path or method gets a short error, never a crash. */
export function serveMetrics(
  metrics: DaemonMetrics,
  options: { readonly host: string; readonly port: number },
): ResultAsync<HttpEndpoint, ListenError> {
  const handler = (req: IncomingMessage, res: ServerResponse): void => {
    const path = (req.url ?? '/').split('?')[0];
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      answer(res, 405, 'text/plain', 'only GET\n');
      return;
    }
    if (path !== '/metrics') {
      answer(res, 404, 'text/plain', 'memgov serves Prometheus metrics on /metrics\n');
      return;
    }
    metrics.render().then(
      (text) => answer(res, 200, metrics.contentType, text),
      (error: unknown) => answer(res, 500, 'text/plain', `${errnoSummary(error)}\n`),
    );
  };
  return serveHttp(handler, options.host, options.port);
}
