// Path arithmetic on absolute POSIX paths, with no file system access.
import { join, relative } from 'node:path';

/** Whether `path` is `dir` or lies below it (`/a/bc` is not within `/a/b`). */
export function isWithin(path: string, dir: string): boolean {
  return path === dir || path.startsWith(dir.endsWith('/') ? dir : `${dir}/`);
}

/** `top` and every directory below it down to `dir` (which lies within `top`), shallowest first. */
export function directoriesDownTo(top: string, dir: string): string[] {
  const parts = relative(top, dir)
    .split('/')
    .filter((p) => p !== '');
  return [top, ...parts.map((_, i) => join(top, ...parts.slice(0, i + 1)))];
}
