/**
 * What `vm run`, `run dism` and `run wua` show while QEMU runs, and how they stop.
 * - Progress: on a terminal one live status line (phase, elapsed, next deadline, last guest
 *   event), refreshed every second; without one a plain line per event on stderr;
 *   `--json-events`: the RunEvents as JSON Lines on stderr. stdout stays for data.
 * - Ctrl-C / SIGTERM / SIGHUP: the first asks the runner to stop the VM (result.json says `aborted`),
 *   the second kills QEMU at once. The command then exits 130 (EXIT.interrupted).
 */
import { InterruptedError, MsuError } from '../errors.js';
import type { RunEvent } from '../vm/runner.js';
import type { TimeoutOverrides } from '../vm/spec.js';
import type { CliContext } from './context.js';

// Loaded when a run starts, not at CLI start (see inspect.ts).
const vmProgress = () => import('../vm/progress.js');

export interface VmConsoleOptions {
  /** The command prints JSON data on stdout: no plain progress lines (the live line stays). */
  json: boolean;
  /** JSON Lines events on stderr instead of human progress. */
  jsonEvents: boolean;
}

export interface VmConsole {
  /** Aborted by the first SIGINT/SIGTERM: stop the VM. */
  signal: AbortSignal;
  /** Aborted by the second: kill it. */
  killSignal: AbortSignal;
  onEvent(e: RunEvent): void;
}

// SIGHUP: a closed terminal must not leave the VM (in its own process group) running
const STOP_SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;

/** Run `body` (which calls runVm with the console's signals and onEvent); says whether the user interrupted it. */
export async function withVmConsole<T>(ctx: CliContext, opts: VmConsoleOptions, body: (c: VmConsole) => Promise<T>): Promise<{ value: T; interrupted: boolean }> {
  const { RunProgress, describeTimeouts } = await vmProgress();
  const stop = new AbortController();
  const kill = new AbortController();
  const onSignal = (sig: NodeJS.Signals): void => {
    if (!stop.signal.aborted) stop.abort(sig);
    else if (!kill.signal.aborted) kill.abort(`${sig} again`);
  };
  for (const s of STOP_SIGNALS) process.on(s, onSignal);

  const progress = new RunProgress();
  let lastT = 0;
  let lastAt = Date.now();
  const render = () => ctx.progress(progress.status(lastT + (Date.now() - lastAt)));
  // the elapsed time and the deadline count down between events; unref: never keeps msu alive
  const ticker = ctx.live && !opts.jsonEvents ? setInterval(render, 1000) : undefined;
  ticker?.unref();

  const onEvent = (e: RunEvent): void => {
    lastT = e.t;
    lastAt = Date.now();
    if (opts.jsonEvents) {
      ctx.stderr.write(JSON.stringify(e) + '\n');
      return;
    }
    if (e.type === 'warning') ctx.warn(e.message);
    else if (e.type === 'prepare') ctx.info(describeTimeouts(e.timeouts, e.accel));
    const line = progress.update(e);
    if (ctx.live) render();
    else if (line !== undefined && !opts.json && e.type !== 'prepare') ctx.event(line);
  };

  try {
    const value = await body({ signal: stop.signal, killSignal: kill.signal, onEvent });
    return { value, interrupted: stop.signal.aborted };
  } catch (err) {
    // Ctrl-C before QEMU ran also reaches the host tools (same process group): their failure is the interrupt
    if (stop.signal.aborted && !(err instanceof InterruptedError)) {
      throw new InterruptedError('E_INTERRUPTED', `interrupted (${String(stop.signal.reason)}) before the VM ran${err instanceof MsuError ? `: ${err.message}` : ''}`);
    }
    throw err;
  } finally {
    if (ticker) clearInterval(ticker);
    for (const s of STOP_SIGNALS) process.removeListener(s, onSignal);
    ctx.clearProgress();
  }
}

/** The options every command that runs a VM takes (docs/cli.md). */
export interface RunConsoleFlags {
  timeout?: string;
  bootTimeout?: string;
  idleTimeout?: string;
  jsonEvents?: boolean;
}

type WithOption = { option(flags: string, description: string): WithOption };

/** Add --timeout, --boot-timeout, --idle-timeout and --json-events to a command. */
export function addRunConsoleOptions<C extends WithOption>(cmd: C): C {
  cmd
    .option('--timeout <duration>', 'the whole run may take at most this long (90s, 30m, 2h, 1d); replaces the generated limit')
    .option('--boot-timeout <duration>', 'fail when the guest has not sent its boot event this long after QEMU started')
    .option('--idle-timeout <duration>', 'fail when the guest has been silent this long after booting')
    .option('--json-events', 'write the run events as JSON Lines on stderr instead of progress');
  return cmd;
}

/** The deadlines the user set, as the runner takes them. */
export async function timeoutOverrides(f: RunConsoleFlags): Promise<TimeoutOverrides> {
  const { checkTimeoutOverrides, parseDuration } = await import('../vm/spec.js');
  const o: TimeoutOverrides = {};
  if (f.timeout !== undefined) o.totalSec = parseDuration(f.timeout, '--timeout');
  if (f.bootTimeout !== undefined) o.bootSec = parseDuration(f.bootTimeout, '--boot-timeout');
  if (f.idleTimeout !== undefined) o.heartbeatSec = parseDuration(f.idleTimeout, '--idle-timeout');
  return checkTimeoutOverrides(o);
}
