// `npm ci` prints no warning of the project's own making: every package whose install script
// npm would run is allowed by name, and no package pulls a copy of the TypeScript tooling whose
// peer range excludes our TypeScript (the neverthrow lint plugin's own @typescript-eslint/utils).
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';

const ROOT = new URL('../../', import.meta.url).pathname;

interface LockEntry {
  readonly version?: string;
  readonly hasInstallScript?: boolean;
  readonly peerDependencies?: Readonly<Record<string, string>>;
}

const lock = JSON.parse(readFileSync(`${ROOT}package-lock.json`, 'utf8')) as {
  packages: Readonly<Record<string, LockEntry>>;
};
const manifest = JSON.parse(readFileSync(`${ROOT}package.json`, 'utf8')) as {
  allowScripts?: Readonly<Record<string, boolean>>;
  devDependencies: Readonly<Record<string, string>>;
};

function nameOf(path: string): string {
  return path.slice(path.lastIndexOf('node_modules/') + 'node_modules/'.length);
}

describe('npm ci stays quiet', () => {
  it('allows every install script in the lock by name', () => {
    const scripted = Object.entries(lock.packages)
      .filter(([path, entry]) => path !== '' && entry.hasInstallScript === true)
      .map(([path]) => nameOf(path));
    expect(scripted.length).toBeGreaterThan(0);
    for (const name of scripted) expect(manifest.allowScripts?.[name], name).toBe(true);
  });

  it('has no package whose typescript peer range excludes the pinned typescript', () => {
    const pinnedMajorMinor = (manifest.devDependencies.typescript ?? '').split('.').slice(0, 2);
    const excluding = Object.entries(lock.packages)
      .filter(([, entry]) => {
        const range = entry.peerDependencies?.typescript ?? '';
        const upper = /<\s*(\d+)\.(\d+)/.exec(range);
        if (upper === null) return false;
        const [major, minor] = pinnedMajorMinor.map(Number) as [number, number];
        const [uMajor, uMinor] = [Number(upper[1]), Number(upper[2])];
        return major > uMajor || (major === uMajor && minor >= uMinor);
      })
      .map(([path, entry]) => `${path}@${entry.version ?? '?'}`);
    expect(excluding).toEqual([]);
  });
});
