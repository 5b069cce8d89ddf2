// One process and the bytes it holds: what adapters/proc-memory.ts reads from /proc and
// machines/attribution.ts groups (docs/DESIGN.md#whose-memory-it-is). A plain shape both rooms share.

export interface ProcessShare {
  readonly pid: number;
  readonly ppid: number;
  readonly pgrp: number;
  /** Field 22 of /proc/PID/stat: with the pid, names this process and no later one. */
  readonly startTicks: number;
  /** The kernel's command name (comm): up to 15 bytes, any character but NUL. */
  readonly comm: string;
  readonly bytes: number;
}
