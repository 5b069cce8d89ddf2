// File notifications for cgroup v2's memory.events (docs/DESIGN.md, "Memory signals"). chokidar's
// `change` event is throttled to one per 50 ms per path and drops the rest: on Debian's 6.1
// kernel 379 inotify events gave 193 `change`s and the final `oom_kill 1` change was missed in 2
// of 6 runs. Its `raw` event fires on every inotify notification, so this listens to that and
// re-reads the file each time: a notification whose content did not change is not passed on.
import { readFileSync } from 'node:fs';
import { watch } from 'chokidar';
import { err, ok, type Result } from 'neverthrow';
import { errorMessage } from '../../lib/errors.ts';

export interface FileWatch {
  /** Stops watching; resolves once the watch is closed. */
  close(): Promise<void>;
}

export interface FileWatchHandlers {
  /** Called with the file's new content after each notification that changed it. */
  readonly onChange: (text: string) => void;
  /** Called when watching or re-reading fails (the caller's timed reads carry on). */
  readonly onError: (detail: string) => void;
}

function readOrNull(path: string, onError: (detail: string) => void): string | null {
  try {
    return readFileSync(path, 'utf8');
  } catch (error) {
    onError(`re-reading ${path} failed: ${errorMessage(error)}`);
    return null;
  }
}

/** Watches one file with inotify (never polling: cgroup files have size 0 and a fixed mtime). */
export function watchFileChanges(
  path: string,
  handlers: FileWatchHandlers,
): Result<FileWatch, string> {
  try {
    let lastText = readOrNull(path, () => undefined);
    const watcher = watch(path, { usePolling: false, ignoreInitial: true, persistent: true });
    watcher.on('raw', () => {
      const text = readOrNull(path, handlers.onError);
      if (text === null || text === lastText) return;
      lastText = text;
      handlers.onChange(text);
    });
    watcher.on('error', (error) => handlers.onError(String(error)));
    return ok({ close: () => watcher.close() });
  } catch (error) {
    return err(`watching ${path} failed: ${errorMessage(error)}`);
  }
}
