/**
 * The long-running processes a run starts (QEMU, swtpm). Each runs detached, in its own
 * process group, so the terminal's Ctrl-C reaches msu only and msu decides how to stop the
 * VM. Detached children are not killed by the terminal any more, so every live one is
 * tracked here and SIGKILLed, by pid, if msu exits before it stopped them.
 */
import { execa, type ResultPromise } from 'execa';

const live = new Set<ResultPromise>();
let hooked = false;

function killLive(): void {
  for (const c of live) {
    try {
      c.kill('SIGKILL');
    } catch {
      /* already gone */
    }
  }
}

export interface ChildExit {
  exitCode: number | null;
  signal: string | null;
  /** Spawn error code (ENOENT when the binary does not exist). */
  error?: string;
}

export interface RunChild {
  pid: number | null;
  /** Resolves once the process has exited (never rejects). */
  exited: Promise<ChildExit>;
  readonly hasExited: boolean;
  /** SIGKILL (or `signal`) this process only; no-op once it has exited. */
  kill(signal?: NodeJS.Signals): void;
  /** Last lines of its stderr, ` | `-joined. */
  stderrTail(lines?: number): string;
}

/** Start `bin` detached with stdin/stdout closed; `onStderr` gets every stderr chunk. */
export function spawnChild(bin: string, args: readonly string[], onStderr?: (chunk: Buffer) => void): RunChild {
  if (!hooked) {
    hooked = true;
    process.on('exit', killLive);
  }
  const child: ResultPromise = execa(bin, [...args], { reject: false, stdin: 'ignore', stdout: 'ignore', stderr: 'pipe', buffer: false, detached: true, cleanup: false });
  live.add(child);
  let tail = '';
  child.stderr?.on('data', (d: Buffer) => {
    tail = (tail + d.toString('utf8')).slice(-2000);
    onStderr?.(d);
  });
  let exitedFlag = false;
  const exited: Promise<ChildExit> = child.then(
    (r) => {
      exitedFlag = true;
      live.delete(child);
      const e: ChildExit = { exitCode: r.exitCode ?? null, signal: r.signal ?? null };
      if (r.code) e.error = r.code;
      return e;
    },
    () => {
      exitedFlag = true;
      live.delete(child);
      return { exitCode: null, signal: null };
    },
  );
  return {
    pid: child.pid ?? null,
    exited,
    get hasExited() {
      return exitedFlag;
    },
    kill(signal = 'SIGKILL') {
      if (!exitedFlag) child.kill(signal);
    },
    stderrTail(lines = 3) {
      return tail.split('\n').map((l) => l.trim()).filter(Boolean).slice(-lines).join(' | ');
    },
  };
}
