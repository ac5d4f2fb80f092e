import { spawn, spawnSync, type ChildProcess } from 'node:child_process';

/**
 * A FIFO at `file`, and a writer process that opens and closes it every `periodMs`. Code that
 * opens the FIFO without O_NONBLOCK blocks until a writer comes; a synchronous open blocks the
 * whole event loop, so no vitest timeout could fire. The writer wakes such code (it reads
 * nothing), and the test fails on its assertions instead of hanging the worker. stop() ends
 * the writer (the one process this started, by its id).
 */
export function fifoWithWaker(file: string, periodMs = 500): { stop(): void } {
  const made = spawnSync('mkfifo', [file], { encoding: 'utf8' });
  if (made.status !== 0) throw new Error(`mkfifo ${file} failed: ${made.stderr}`);
  const secs = (periodMs / 1000).toFixed(3);
  const waker: ChildProcess = spawn('sh', ['-c', `while :; do sleep ${secs}; : > "$1"; done`, 'sh', file], { stdio: 'ignore' });
  return {
    stop: () => {
      if (waker.exitCode === null && waker.signalCode === null) waker.kill('SIGKILL');
    },
  };
}
