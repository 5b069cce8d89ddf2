// Creating and removing child memory cgroups (cgroup v1) for the demo, the real-cgroup tests and
// the reaction benchmark. Only children of memgov's own memory cgroup are ever touched.
import { accessSync, constants, mkdirSync, readFileSync, rmdirSync, writeFileSync } from 'node:fs';
import { err, ok, type Result } from 'neverthrow';
import { errnoCode, errnoSummary, sleepSync } from '../errno.ts';
import { formatCgroupError } from './parse.ts';
import { openCgroup } from './reader.ts';

/** Our own v1 memory cgroup, if this process may create children in it; else why not. */
export function writableV1Parent(): Result<string, string> {
  const own = openCgroup();
  if (own.isErr()) return err(formatCgroupError(own.error));
  if (own.value.version !== 1)
    return err(`the memory cgroup ${own.value.dir} is cgroup v2 (no delegation here)`);
  try {
    accessSync(own.value.dir, constants.W_OK);
  } catch (error) {
    return err(`the memory cgroup ${own.value.dir} is not writable: ${errnoSummary(error)}`);
  }
  return ok(own.value.dir);
}

/** Creates `<parent>/<name>` with a memory limit. */
export function createChildCgroup(
  parentDir: string,
  name: string,
  limitBytes: number,
): Result<string, string> {
  if (!/^[A-Za-z0-9._-]+$/.test(name)) return err(`bad cgroup name ${JSON.stringify(name)}`);
  const dir = `${parentDir}/${name}`;
  try {
    mkdirSync(dir);
    writeFileSync(`${dir}/memory.limit_in_bytes`, String(limitBytes));
    return ok(dir);
  } catch (error) {
    removeChildCgroup(dir, parentDir).unwrapOr(undefined);
    return err(`cannot create cgroup ${dir}: ${errnoSummary(error)}`);
  }
}

/** Moves a process into the cgroup (its later allocations are charged there). */
export function moveInto(dir: string, pid: number): Result<void, string> {
  try {
    writeFileSync(`${dir}/cgroup.procs`, String(pid));
    return ok(undefined);
  } catch (error) {
    return err(`cannot move pid ${pid} into ${dir}: ${errnoSummary(error)}`);
  }
}

/** The processes in the cgroup now (`cgroup.procs`); empty when it cannot be read. */
export function tasksOf(dir: string): number[] {
  try {
    return readFileSync(`${dir}/cgroup.procs`, 'utf8')
      .split('\n')
      .filter((line) => line !== '')
      .map(Number);
  } catch {
    return [];
  }
}

/**
 * Removes a child cgroup: processes still inside are moved back to the parent first (a cgroup
 * with tasks cannot be removed), then rmdir, retried briefly while the kernel drains it.
 * Returns an error message, never throws; a cgroup already gone is success.
 */
export function removeChildCgroup(dir: string, parentDir: string): Result<void, string> {
  for (let attempt = 0; attempt < 200; attempt++) {
    for (const pid of tasksOf(dir)) moveInto(parentDir, pid).unwrapOr(undefined);
    try {
      rmdirSync(dir);
      return ok(undefined);
    } catch (error) {
      const code = errnoCode(error);
      if (code === 'ENOENT') return ok(undefined);
      if (code !== 'EBUSY') return err(`cannot remove cgroup ${dir}: ${errnoSummary(error)}`);
      // EBUSY: a task is still leaving; wait a little (synchronously: this runs on exit paths).
      sleepSync(10);
    }
  }
  return err(`cannot remove cgroup ${dir}: still busy after 2 s`);
}
