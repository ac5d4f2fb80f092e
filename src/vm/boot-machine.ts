/**
 * One QEMU process of a run as an explicit state machine. Pure: events in, effects out;
 * the runner (src/vm/runner.ts) does the I/O (QMP, serial, processes) and performs the effects.
 *
 *   phase         left by                                   to
 *   booting   --  guest `boot`                          --> running
 *   booting/running -- guest `done`/`error`             --> finishing
 *   finishing --  grace passed (tick)                   --> poweringDown  (effect: powerdown)
 *   any       --  SHUTDOWN guest-reset / guest-shutdown --> ended (reset / shutdown)
 *   any       --  RESET in place (a new boot period)    --> booting, or ended (maxBoots)
 *   any       --  watchdog (tick), panic, I/O error, unexplained stop or exit,
 *                 swtpm gone, abort, host error         --> ended (fail)
 *
 * Boots are counted once, as boot periods: each QEMU start and each in-place reset begins
 * one, and `timeouts.maxBoots` caps them. (`RunResult.boots` reports the guest's `boot`
 * events; it is not a limit.)
 */
import type { GuestEvent } from './protocol.js';
import type { RebootPolicy, Timeouts } from './spec.js';
import { checkWatchdogs, nextDeadline, type WatchClock, type WatchdogLimit } from './watchdogs.js';
import type { FailureCode, RunEventBody, RunFailure } from './run-types.js';

export type BootPhase = 'booting' | 'running' | 'finishing' | 'poweringDown' | 'ended';

export type Outcome =
  | { kind: 'reset' }
  | { kind: 'shutdown' }
  /** `stop`: QEMU may still run and must be stopped; `dumpName` names the screendump. */
  | { kind: 'fail'; failure: RunFailure; stop: boolean; dumpName: string };

export type BootEvent =
  | { kind: 'guest'; event: GuestEvent }
  | { kind: 'shutdown'; reason: string | undefined }
  /** QMP RESET caused by the guest, with in-place reboots. */
  | { kind: 'reset' }
  | { kind: 'panic'; info: unknown }
  | { kind: 'io-error'; device: string; reason: string }
  | { kind: 'vm-stopped'; status: string; why: string }
  | { kind: 'qemu-exited'; exitCode: number | null; why: string }
  | { kind: 'tpm-exited'; exitCode: number | string; why: string }
  /** vm.tpm, but QMP `query-tpm` lists no device. */
  | { kind: 'tpm-missing' }
  | { kind: 'start-failed'; message: string }
  | { kind: 'abort'; reason: string }
  | { kind: 'host-error'; message: string }
  | { kind: 'tick' };

export type Effect = { do: 'emit'; event: RunEventBody } | { do: 'powerdown' } | { do: 'end'; outcome: Outcome };

export interface BootConfig {
  timeouts: Timeouts;
  accel: 'kvm' | 'tcg';
  rebootPolicy: RebootPolicy;
  /** QEMU start number (1, 2, …). */
  start: number;
  runStart: number;
  statusEveryMs: number;
}

/** What the run knows beyond this process (for messages and the status event). */
export interface RunView {
  /** Boot periods so far, this one included. */
  periods: number;
  /** Guest `boot` events so far. */
  boots: number;
  terminal?: 'done' | 'error' | undefined;
  lastStep?: { id: string; name: string; state: string } | undefined;
  lastPct?: number | undefined;
}

export interface BootState extends WatchClock {
  phase: BootPhase;
  lastResetAt: number;
  lastStatusAt: number;
}

export function initialBootState(cfg: BootConfig, now: number): BootState {
  return { phase: 'booting', runStart: cfg.runStart, periodStart: now, lastLife: now, lastResetAt: -Infinity, lastStatusAt: now };
}

const fail = (code: FailureCode, message: string, dumpName: string, limit?: WatchdogLimit): Effect => {
  const failure: RunFailure = { code, message };
  if (limit) failure.limit = limit;
  return { do: 'end', outcome: { kind: 'fail', failure, stop: true, dumpName } };
};

const maxBootsMessage = (periods: number, max: number) => `watchdog "maxBoots" fired: the guest rebooted ${periods} times and timeouts.maxBoots = ${max} allows no further boot (reboot storm?)`;

/** Before a new QEMU start (restart-process): the maxBoots check, or undefined to go ahead. */
export function checkNewStart(periods: number, timeouts: Timeouts): Outcome | undefined {
  if (periods < timeouts.maxBoots) return undefined;
  const message = maxBootsMessage(periods, timeouts.maxBoots);
  return { kind: 'fail', failure: { code: 'watchdog', limit: 'maxBoots', message }, stop: false, dumpName: 'maxBoots' };
}

/** The one transition function. Mutates `s` (the machine's own state) and `run.periods`; returns the effects. */
export function step(s: BootState, ev: BootEvent, now: number, cfg: BootConfig, run: RunView): Effect[] {
  if (s.phase === 'ended') return [];
  const out: Effect[] = [];
  const end = (e: Effect): Effect[] => {
    s.phase = 'ended';
    out.push(e);
    return out;
  };
  const start = cfg.start;
  switch (ev.kind) {
    case 'guest': {
      s.lastLife = now;
      const t = ev.event.type;
      if (t === 'boot') {
        s.bootSeenAt = now;
        if (s.phase === 'booting') s.phase = 'running';
      } else if ((t === 'done' || t === 'error') && s.doneAt === undefined) {
        s.doneAt = now;
        s.phase = 'finishing';
      }
      return out;
    }
    case 'shutdown':
      if (ev.reason === 'guest-reset') return end({ do: 'end', outcome: { kind: 'reset' } });
      if (ev.reason === 'guest-shutdown') return end({ do: 'end', outcome: { kind: 'shutdown' } });
      return end(fail('unexpected-shutdown', `QEMU shut down for a reason the runner did not cause: ${ev.reason ?? 'unknown'} (boot ${start})`, 'shutdown'));
    case 'reset': {
      if (cfg.rebootPolicy !== 'in-place') return out;
      // one guest reboot can produce two RESET events ~0.1 s apart: a second one counts only
      // if the guest booted in between or enough time passed
      if (s.bootSeenAt === undefined && now - s.lastResetAt < 300) return out;
      s.lastResetAt = now;
      out.push({ do: 'emit', event: { type: 'guest-reset', boots: run.boots } });
      if (run.periods >= cfg.timeouts.maxBoots) {
        const message = maxBootsMessage(run.periods, cfg.timeouts.maxBoots);
        out.push({ do: 'emit', event: { type: 'watchdog', limit: 'maxBoots', message } });
        return end(fail('watchdog', message, 'maxBoots', 'maxBoots'));
      }
      run.periods++;
      // a new boot period: the boot deadline and the per-boot cap start again
      s.phase = 'booting';
      s.periodStart = now;
      s.bootSeenAt = undefined;
      s.lastLife = now;
      return out;
    }
    case 'panic':
      return end(fail('guest-panicked', `the guest panicked (boot ${start}): ${JSON.stringify(ev.info)}`, 'panic'));
    case 'io-error':
      return end(fail('block-io-error', `disk I/O error on ${ev.device} (${ev.reason}); is the host disk full?`, 'io-error'));
    case 'vm-stopped':
      return end(fail('vm-stopped', `the VM stopped by itself (status "${ev.status}", boot ${start})${ev.why ? `: ${ev.why}` : ''}`, 'stopped'));
    case 'qemu-exited':
      return end(fail('qemu-exited', `QEMU exited unexpectedly (boot ${start}, exit code ${ev.exitCode ?? 'none'})${ev.why ? `: ${ev.why}` : ''}`, 'exit'));
    case 'tpm-exited':
      return end(fail('tpm-error', `swtpm exited while QEMU was running (boot ${start}, exit code ${ev.exitCode})${ev.why ? `: ${ev.why}` : ''}`, 'tpm'));
    case 'tpm-missing':
      return end(fail('tpm-error', `QEMU reports no TPM device (query-tpm is empty, boot ${start})`, 'tpm'));
    case 'start-failed':
      return end(fail('qemu-start', ev.message, 'start'));
    case 'abort':
      return end(fail('aborted', `the run was cancelled${ev.reason ? ` (${ev.reason})` : ''}`, 'aborted'));
    case 'host-error':
      return end(fail('host-error', ev.message, 'host-error'));
    case 'tick': {
      const v = checkWatchdogs(s, now, cfg.timeouts, { start, accel: cfg.accel, terminal: run.terminal, lastStep: run.lastStep });
      if (v && 'fire' in v) {
        out.push({ do: 'emit', event: { type: 'watchdog', limit: v.fire, message: v.message } });
        return end(fail('watchdog', v.message, v.fire, v.fire));
      }
      if (v && 'powerdown' in v) {
        s.powerdownAt = now;
        s.phase = 'poweringDown';
        out.push({ do: 'emit', event: { type: 'powerdown', reason: v.powerdown } }, { do: 'powerdown' });
      }
      if (now - s.lastStatusAt >= cfg.statusEveryMs) {
        s.lastStatusAt = now;
        const ev: Extract<RunEventBody, { type: 'status' }> = {
          type: 'status',
          start,
          boots: run.boots,
          bootAgeSec: Math.round((now - s.periodStart) / 1000),
          heartbeatAgeSec: s.bootSeenAt === undefined ? null : Math.round((now - s.lastLife) / 1000),
        };
        if (run.lastStep) ev.step = `${run.lastStep.name} (${run.lastStep.state})`;
        if (run.lastPct !== undefined) ev.pct = run.lastPct;
        ev.deadline = nextDeadline(s, now, cfg.timeouts);
        out.push({ do: 'emit', event: ev });
      }
      return out;
    }
  }
}
