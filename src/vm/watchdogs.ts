/**
 * The runner's watchdogs as pure functions of one boot period's clock: which limit fires
 * now, and which one would fire next. Times are milliseconds on one monotonic clock.
 */
import type { Timeouts } from './spec.js';

/** Which watchdog fired. */
export type WatchdogLimit = 'boot' | 'heartbeat' | 'perBoot' | 'total' | 'maxBoots' | 'poweroffAfterDone';

/** The watchdog that fires next if nothing happens, and how soon. */
export interface NextDeadline {
  limit: WatchdogLimit;
  remainingSec: number;
}

/** What the watchdogs look at. A boot period starts with a QEMU start or an in-place reset. */
export interface WatchClock {
  runStart: number;
  periodStart: number;
  /** The period's first `boot` event. */
  bootSeenAt?: number | undefined;
  /** Last protocol line (or period start). */
  lastLife: number;
  /** First `done`/`error` of the period. */
  doneAt?: number | undefined;
  /** When the runner pressed the power button after `done`. */
  powerdownAt?: number | undefined;
}

export interface WatchContext {
  /** QEMU start number, for messages. */
  start: number;
  accel: 'kvm' | 'tcg';
  terminal?: 'done' | 'error' | undefined;
  lastStep?: { id: string; state: string } | undefined;
}

export type WatchVerdict = { fire: WatchdogLimit; message: string } | { powerdown: string } | undefined;

const fmtSec = (s: number) => (s >= 120 ? `${Math.round(s / 60)} min` : `${Math.round(s * 10) / 10} s`);

/** The check that fires first, in the documented order: total, perBoot, boot, heartbeat, poweroffAfterDone. */
export function checkWatchdogs(c: WatchClock, t: number, to: Timeouts, w: WatchContext): WatchVerdict {
  const scaled = w.accel === 'tcg' ? ' × tcgFactor' : '';
  if (t - c.runStart > to.totalSec * 1000) return { fire: 'total', message: `watchdog "total" fired: the run took longer than ${fmtSec(to.totalSec)} (timeouts.totalSec${scaled}), boot ${w.start}` };
  if (t - c.periodStart > to.perBootSec * 1000) return { fire: 'perBoot', message: `watchdog "perBoot" fired: boot ${w.start} ran longer than ${fmtSec(to.perBootSec)} (timeouts.perBootSec${scaled})` };
  if (c.bootSeenAt === undefined && c.doneAt === undefined && t - c.periodStart > to.bootSec * 1000) {
    return { fire: 'boot', message: `watchdog "boot" fired: no boot event from the guest within ${fmtSec(to.bootSec)} of start ${w.start} (timeouts.bootSec${scaled})` };
  }
  if (c.bootSeenAt !== undefined && c.doneAt === undefined && t - c.lastLife > to.heartbeatSec * 1000) {
    const last = w.lastStep ? `${w.lastStep.id} ${w.lastStep.state}` : 'none';
    return { fire: 'heartbeat', message: `watchdog "heartbeat" fired: no protocol line from the guest for ${fmtSec((t - c.lastLife) / 1000)} in boot ${w.start} (timeouts.heartbeatSec = ${fmtSec(to.heartbeatSec)}); last step: ${last}` };
  }
  // the guest said it finished but did not power off: press the button (docs/vm.md, "Boot loop and watchdogs"), then give up
  if (c.doneAt !== undefined && c.powerdownAt === undefined && t - c.doneAt > to.graceSec * 1000) {
    return { powerdown: `guest sent ${w.terminal} but did not power off within ${fmtSec(to.graceSec)}` };
  }
  if (c.powerdownAt !== undefined && t - c.powerdownAt > to.graceSec * 1000) {
    return { fire: 'poweroffAfterDone', message: `watchdog "poweroffAfterDone" fired: the guest sent ${w.terminal} but did not power off, not even after system_powerdown (${fmtSec(to.graceSec)} each, timeouts.graceSec)` };
  }
  return undefined;
}

/** The watchdog that would fire first from `t` on (mirrors checkWatchdogs). */
export function nextDeadline(c: WatchClock, t: number, to: Timeouts): NextDeadline {
  const at: Array<[WatchdogLimit, number]> = [
    ['total', c.runStart + to.totalSec * 1000],
    ['perBoot', c.periodStart + to.perBootSec * 1000],
  ];
  if (c.bootSeenAt === undefined && c.doneAt === undefined) at.push(['boot', c.periodStart + to.bootSec * 1000]);
  if (c.bootSeenAt !== undefined && c.doneAt === undefined) at.push(['heartbeat', c.lastLife + to.heartbeatSec * 1000]);
  if (c.doneAt !== undefined) at.push(['poweroffAfterDone', (c.powerdownAt ?? c.doneAt + to.graceSec * 1000) + to.graceSec * 1000]);
  at.sort((x, y) => x[1] - y[1]);
  const [limit, when] = at[0]!;
  return { limit, remainingSec: Math.max(0, Math.round((when - t) / 1000)) };
}
