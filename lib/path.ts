// Path arithmetic on absolute POSIX paths, with no file system access.

/** Whether `path` is `dir` or lies below it (`/a/bc` is not within `/a/b`). */
export function isWithin(path: string, dir: string): boolean {
  return path === dir || path.startsWith(dir.endsWith('/') ? dir : `${dir}/`);
}
