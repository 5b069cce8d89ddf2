// The deployment files hold what the two wiring paths need (docs/DESIGN.md#persistence): the Kubernetes manifest
// parses, mounts a volume at AGENT_DATA, limits memory, annotates the metrics port, and its
// postStart hook starts memgov with the very flags the entrypoint's loop uses; its memgov config
// is one memgov accepts. The Dockerfile (Docker cannot run here) is checked by reading it: its
// stages, the files it copies exist, and the bundle builds from exactly the sources it copies.
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { runBundle } from '../support/cli.ts';
import { Cleanup, tempDir } from '../support/daemon.ts';
import { ENTRYPOINT } from './entrypoint-process.ts';

const ROOT = new URL('../../', import.meta.url).pathname;
const MANIFEST = join(ROOT, 'deploy/kubernetes/agent.yaml');
const DOCKERFILE = join(ROOT, 'deploy/Dockerfile');
const TRACE = join(ROOT, 'examples/traces/burst.jsonl');

// Just the fields read here; the rest of the Kubernetes API is not modelled.
interface EnvVar {
  name: string;
  value?: string;
}
interface Container {
  name: string;
  image: string;
  args?: string[];
  env?: EnvVar[];
  ports?: { name?: string; containerPort: number }[];
  resources?: { requests?: Record<string, string>; limits?: Record<string, string> };
  volumeMounts?: { name: string; mountPath: string; readOnly?: boolean }[];
  lifecycle?: { postStart?: { exec?: { command?: string[] } } };
  livenessProbe?: unknown;
}
interface Volume {
  name: string;
  persistentVolumeClaim?: { claimName: string };
  emptyDir?: object;
  configMap?: { name: string };
}
interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; annotations?: Record<string, string> };
  data?: Record<string, string>;
  spec?: {
    replicas?: number;
    template?: {
      metadata: { annotations?: Record<string, string> };
      spec: { containers: Container[]; volumes?: Volume[]; terminationGracePeriodSeconds?: number };
    };
  };
}

function manifestObjects(): K8sObject[] {
  const docs = parseAllDocuments(readFileSync(MANIFEST, 'utf8'));
  if (!Array.isArray(docs)) throw new Error(`${MANIFEST}: no YAML documents`);
  for (const doc of docs) expect(doc.errors.map((e) => e.message)).toEqual([]);
  return docs.map((doc) => doc.toJS() as K8sObject);
}

function only<T>(items: readonly T[], what: string): T {
  if (items.length !== 1) throw new Error(`expected exactly one ${what}, found ${items.length}`);
  return items[0] as T;
}

function envOf(container: Container): Record<string, string> {
  return Object.fromEntries((container.env ?? []).map((e) => [e.name, e.value ?? '']));
}

/** Kubernetes memory quantities in bytes (the binary and decimal suffixes this file may use). */
function quantityBytes(text: string): number {
  const match = /^(\d+)(Ki|Mi|Gi|Ti|k|M|G|T)?$/.exec(text);
  if (match === null) throw new Error(`not a memory quantity: ${text}`);
  const scale: Record<string, number> = {
    '': 1,
    Ki: 2 ** 10,
    Mi: 2 ** 20,
    Gi: 2 ** 30,
    Ti: 2 ** 40,
    k: 1e3,
    M: 1e6,
    G: 1e9,
    T: 1e12,
  };
  return Number(match[1]) * (scale[match[2] ?? ''] ?? Number.NaN);
}

describe('deploy/kubernetes/agent.yaml', () => {
  const objects = manifestObjects();
  const deployment = only(
    objects.filter((o) => o.kind === 'Deployment'),
    'Deployment',
  );
  const pod = deployment.spec?.template;
  if (pod === undefined) throw new Error('the Deployment has no pod template');
  const container = only(pod.spec.containers, 'container');
  const env = envOf(container);
  const cleanup = new Cleanup();
  afterEach(() => cleanup.run());

  it('has one replica, a memory limit equal to the request, and a grace period for tier 3', () => {
    expect(deployment.apiVersion).toBe('apps/v1');
    expect(deployment.spec?.replicas).toBe(1);
    const limit = container.resources?.limits?.memory;
    expect(limit).toBeDefined();
    expect(quantityBytes(limit as string)).toBeGreaterThanOrEqual(2 ** 30);
    expect(container.resources?.requests?.memory).toBe(limit);
    expect(pod.spec.terminationGracePeriodSeconds).toBeGreaterThanOrEqual(30);
    // A probe would restart the container, ending the session memgov protects.
    expect(container.livenessProbe).toBeUndefined();
  });

  it('mounts a claimed volume at AGENT_DATA, and the ConfigMap at MEMGOV_CONFIG', () => {
    expect(env.AGENT_DATA).toBe('/data');
    const dataMount = only(
      (container.volumeMounts ?? []).filter((m) => m.mountPath === env.AGENT_DATA),
      `mount at ${env.AGENT_DATA}`,
    );
    const dataVolume = only(
      (pod.spec.volumes ?? []).filter((v) => v.name === dataMount.name),
      `volume ${dataMount.name}`,
    );
    const claim = dataVolume.persistentVolumeClaim?.claimName;
    expect(
      objects.filter((o) => o.kind === 'PersistentVolumeClaim').map((o) => o.metadata.name),
    ).toContain(claim);
    // The pidfile and the state file live on that volume.
    expect(env.AGENT_PIDFILE?.startsWith(`${env.AGENT_DATA}/`)).toBe(true);

    const configPath = env.MEMGOV_CONFIG as string;
    const configMount = only(
      (container.volumeMounts ?? []).filter((m) => configPath.startsWith(`${m.mountPath}/`)),
      `mount holding ${configPath}`,
    );
    expect(configMount.readOnly).toBe(true);
    const configVolume = only(
      (pod.spec.volumes ?? []).filter((v) => v.name === configMount.name),
      `volume ${configMount.name}`,
    );
    const configMap = only(
      objects.filter(
        (o) => o.kind === 'ConfigMap' && o.metadata.name === configVolume.configMap?.name,
      ),
      'ConfigMap',
    );
    const key = configPath.slice(configMount.mountPath.length + 1);
    expect(Object.keys(configMap.data ?? {})).toContain(key);
  });

  it('holds a memgov config that memgov accepts', () => {
    const configMap = only(
      objects.filter((o) => o.kind === 'ConfigMap'),
      'ConfigMap',
    );
    const file = join(tempDir(cleanup, 'memgov-manifest-'), 'memgov.yaml');
    const text = configMap.data?.['memgov.yaml'] ?? '';
    expect(text).toContain('profile: claude-code');
    writeFileSync(file, text);
    // replay validates the whole config (policy and daemon keys) before it runs.
    const run = runBundle(['replay', TRACE, '--config', file, '--json']);
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    // A bad value in that file is refused: the check has teeth.
    writeFileSync(file, text.replace('clearAt: 0.85', 'clearAt: 2'));
    const bad = runBundle(['replay', TRACE, '--config', file, '--json']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('clearAt');
  });

  it('starts memgov detached in postStart with the flags of the entrypoint loop', () => {
    const command = container.lifecycle?.postStart?.exec?.command ?? [];
    expect(command.slice(0, 3)).toEqual(['memgov', 'start', '--detach']);
    // What the entrypoint passes to `memgov run`, with this container's environment.
    const printed = spawnSync(ENTRYPOINT, ['--print-memgov-args'], {
      env: { PATH: process.env.PATH ?? '', ...env },
      encoding: 'utf8',
    });
    expect(printed.status, printed.stderr).toBe(0);
    const loopArgs = printed.stdout.split('\n').filter((line) => line !== '');
    expect(loopArgs[0]).toBe('run');
    expect(command.slice(3)).toEqual(loopArgs.slice(1));
    expect(command).toContain('--agent-pidfile');
    expect(command).toContain('--tmux-target');
    // Every flag is one memgov knows (the parser runs before --help is answered).
    const parsed = runBundle(['run', ...command.slice(3), '--help']);
    expect(parsed.stderr).toBe('');
    expect(parsed.code).toBe(0);
  });

  it('annotates the metrics port that memgov is told to serve', () => {
    const annotations = pod.metadata.annotations ?? {};
    expect(annotations['prometheus.io/scrape']).toBe('true');
    const port = annotations['prometheus.io/port'];
    expect(port).toMatch(/^\d+$/);
    expect(annotations['prometheus.io/path']).toBe('/metrics');
    expect(container.ports).toContainEqual({ name: 'metrics', containerPort: Number(port) });
    const command = container.lifecycle?.postStart?.exec?.command ?? [];
    expect(command).toContain(`--metrics=${port}`);
    // Reachable from Prometheus (the pod IP) and from kubectl port-forward (loopback).
    expect(command).toContain('--metrics-host=0.0.0.0');
    expect(env.MEMGOV_ARGS?.split(/\s+/)).toContain(`--metrics=${port}`);
  });
});

/** Dockerfile instructions: continuation lines joined, comments and blank lines dropped. */
function dockerInstructions(text: string): { op: string; args: string }[] {
  const joined = text.replace(/\\\n/g, ' ');
  return joined
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line !== '' && !line.startsWith('#'))
    .map((line) => {
      const [op = '', ...rest] = line.split(/\s+/);
      return { op: op.toUpperCase(), args: rest.join(' ') };
    });
}

describe('deploy/Dockerfile', () => {
  const instructions = dockerInstructions(readFileSync(DOCKERFILE, 'utf8'));
  const cleanup = new Cleanup();
  afterEach(() => cleanup.run());

  it('builds on node:20-slim with tmux, in the stages for both ways to ship memgov', () => {
    const stages = instructions.filter((i) => i.op === 'FROM').map((i) => i.args);
    expect(stages).toEqual([
      'node:20-slim AS build',
      'node:20-slim AS base',
      'base AS single-file',
      'base AS package',
    ]);
    const runs = instructions.filter((i) => i.op === 'RUN').map((i) => i.args);
    expect(runs.some((r) => /apt-get install .*\btmux\b/.test(r))).toBe(true);
    expect(runs.some((r) => r.includes('npm pack --pack-destination /out'))).toBe(true);
    // The package way installs the tarball; the single-file way links the bundle onto PATH.
    expect(runs.some((r) => /npm install -g .*\/tmp\/memgov-\*\.tgz/.test(r))).toBe(true);
    expect(
      runs.some((r) => r.includes('ln -s /usr/local/lib/memgov/memgov.mjs /usr/local/bin/memgov')),
    ).toBe(true);
    const fromBuild = instructions
      .filter((i) => i.op === 'COPY' && i.args.includes('--from=build'))
      .map((i) => i.args);
    expect(fromBuild.some((a) => a.includes('/out/memgov.mjs'))).toBe(true);
    expect(fromBuild.some((a) => a.includes('/out/memgov-*.tgz'))).toBe(true);
  });

  it('starts the entrypoint under tini, with the AGENT_DATA of the manifest', () => {
    const entrypoint = instructions.find((i) => i.op === 'ENTRYPOINT');
    expect(JSON.parse(entrypoint?.args ?? 'null')).toEqual([
      'tini',
      '--',
      '/usr/local/bin/memgov-entrypoint',
    ]);
    const copied = instructions.find(
      (i) =>
        i.op === 'COPY' && i.args.endsWith('deploy/entrypoint.sh /usr/local/bin/memgov-entrypoint'),
    );
    expect(copied?.args).toContain('--chmod=755');
    const envLine = instructions.find((i) => i.op === 'ENV' && i.args.includes('AGENT_DATA='));
    expect(envLine?.args).toMatch(/\bAGENT_DATA=\/data\b/);
  });

  it('copies only files that exist, and the bundle builds from exactly those', () => {
    const sources = instructions
      .filter((i) => i.op === 'COPY' && !i.args.includes('--from='))
      .flatMap((i) => {
        const words = i.args.split(' ').filter((w) => !w.startsWith('--'));
        return words.slice(0, -1);
      });
    expect(sources.length).toBeGreaterThan(5);
    for (const source of sources) expect(existsSync(join(ROOT, source)), source).toBe(true);

    // The build stage: the sources it copies, the installed node_modules, `node build.mjs`.
    const dir = tempDir(cleanup, 'memgov-docker-build-');
    for (const source of sources)
      cpSync(join(ROOT, source), join(dir, source), { recursive: true });
    symlinkSync(join(ROOT, 'node_modules'), join(dir, 'node_modules'));
    const build = spawnSync(process.execPath, ['build.mjs'], { cwd: dir, encoding: 'utf8' });
    expect(build.stderr).toBe('');
    expect(build.status).toBe(0);
    const version = spawnSync(process.execPath, [join(dir, 'dist/memgov.mjs'), '--version'], {
      encoding: 'utf8',
    });
    const { version: expected } = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as {
      version: string;
    };
    expect(version.stdout).toBe(`${expected}\n`);
  }, 30_000);
});
