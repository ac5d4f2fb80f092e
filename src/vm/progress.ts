/**
 * What a person watching a run sees: RunEvents in, text out. Pure (no I/O, no clock):
 * the caller passes the run time. Two forms:
 *   - `line(e)`: one plain line for an event worth a line (logs, CI, pipes), or undefined;
 *   - `status(t)`: the live status line for a terminal at run time `t` (ms):
 *     phase, elapsed, time to the next deadline, the last guest event.
 */
import type { GuestEvent } from './protocol.js';
import type { NextDeadline, RunEvent, WatchdogLimit } from './run-types.js';
import { formatDuration, type Timeouts } from './spec.js';

/** 75 s → "1:15", 3725 s → "1:02:05". */
export function clock(sec: number): string {
  const s = Math.max(0, Math.floor(sec));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const ss = String(s % 60).padStart(2, '0');
  return h > 0 ? `${h}:${String(m).padStart(2, '0')}:${ss}` : `${m}:${ss}`;
}

/** The watchdog names as the options and docs call them. */
const DEADLINE_NAMES: Record<WatchdogLimit, string> = {
  boot: 'boot deadline',
  heartbeat: 'idle deadline',
  perBoot: 'per-boot limit',
  total: 'run limit',
  maxBoots: 'boot limit',
  poweroffAfterDone: 'power-off deadline',
};

/** The deadlines a run starts with, in one line (printed at start so nobody waits 5 days unaware). */
export function describeTimeouts(t: Timeouts, accel: 'kvm' | 'tcg'): string {
  const d = `boot ${formatDuration(t.bootSec)}, idle ${formatDuration(t.heartbeatSec)}, per boot ${formatDuration(t.perBootSec)}, total ${formatDuration(t.totalSec)}, at most ${t.maxBoots} boot(s)`;
  const tcg = accel === 'tcg' ? ` (no KVM: TCG, spec values × ${t.tcgFactor})` : '';
  return `deadlines${tcg}: ${d}; --boot-timeout, --idle-timeout and --timeout set them`;
}

function guestText(e: GuestEvent): string | undefined {
  switch (e.type) {
    case 'boot':
      return 'guest is up';
    case 'step':
      return `${e.name} (${e.state}${e.exitCode !== undefined && e.state !== 'running' ? `, exit code ${e.exitCode}` : ''})`;
    case 'progress':
      return `${e.pct}%${e.text ? ` ${e.text}` : ''}`;
    case 'log':
      return `${e.level}: ${e.text}`;
    case 'error':
      return `error ${e.code}: ${e.message}`;
    case 'done':
      return e.ok === false ? 'done (not ok)' : 'done';
    case 'state':
    case 'result':
    case 'heartbeat':
      return undefined;
  }
}

export class RunProgress {
  private phase = 'preparing';
  private step: string | undefined;
  private pct: number | undefined;
  private last: { text: string; t: number } | undefined;
  private deadline: (NextDeadline & { t: number }) | undefined;
  private timeouts: Timeouts | undefined;
  private boot = 0;

  /** Feed one event; returns the plain line for it, if it is worth one. */
  update(e: RunEvent): string | undefined {
    const at = (s: string) => `[${clock(e.t / 1000).padStart(5)}] ${s}`;
    switch (e.type) {
      case 'prepare':
        this.timeouts = e.timeouts;
        return at(`QEMU ${e.qemu}, accelerator ${e.accel}`);
      case 'qemu-start':
        this.phase = `start ${e.start}: booting`;
        this.step = undefined;
        this.pct = undefined;
        if (this.timeouts) this.deadline = { limit: 'boot', remainingSec: this.timeouts.bootSec, t: e.t };
        return at(`start ${e.start}: QEMU started`);
      case 'guest': {
        const text = guestText(e.event);
        if (e.event.type === 'boot') {
          this.boot = e.boot;
          this.phase = `boot ${e.boot}`;
        } else if (e.event.type === 'step') {
          this.step = e.event.state === 'running' ? e.event.name : undefined;
          this.pct = undefined;
        } else if (e.event.type === 'progress') this.pct = e.event.pct;
        else if (e.event.type === 'done' || e.event.type === 'error') this.phase = 'shutdown';
        // any protocol line re-arms the idle deadline (the runner's next status event confirms it)
        if (this.timeouts && this.phase.startsWith('boot ')) this.deadline = { limit: 'heartbeat', remainingSec: this.timeouts.heartbeatSec, t: e.t };
        if (text === undefined) return undefined;
        this.last = { text, t: e.t };
        return at(`boot ${e.boot}: ${text}`);
      }
      case 'guest-reset':
        this.phase = 'reboot';
        return at(`reboot (in place) after boot ${e.boots}`);
      case 'qmp':
        if (e.event !== 'SHUTDOWN') return undefined;
        if (e.data.reason === 'guest-reset') this.phase = 'reboot';
        else if (e.data.reason === 'guest-shutdown') this.phase = 'shutdown';
        return at(`QEMU: ${String(e.data.reason ?? 'shutdown')}`);
      case 'status':
        if (e.deadline) this.deadline = { ...e.deadline, t: e.t };
        return undefined;
      case 'watchdog':
        this.phase = `stopping: ${e.limit} watchdog`;
        return at(e.message);
      case 'powerdown':
        return at(`power button pressed (${e.reason})`);
      case 'screendump':
        return at(`screendump ${e.file}`);
      case 'abort':
        this.phase = e.hard ? 'killing QEMU' : 'stopping (Ctrl-C again kills QEMU at once)';
        return at(e.hard ? 'killing QEMU and its helpers' : `stopping the VM (${e.reason}); Ctrl-C again kills it at once`);
      case 'qemu-exit':
        return at(`start ${e.start}: QEMU exited (${e.signal ?? `exit code ${e.exitCode ?? 'none'}`})`);
      case 'protocol-warning':
        return at(`serial line ${e.line}: ${e.message}`);
      case 'finished':
        this.phase = 'finished';
        this.deadline = undefined;
        return at(e.ok ? `finished: ${e.message}` : `failed: ${e.message}`);
      default:
        return undefined;
    }
  }

  /** The live status line at run time `t` (ms since the run started). */
  status(t: number): string {
    const parts = [`${this.phase}${this.step ? `: ${this.step}` : ''}${this.pct !== undefined ? ` ${this.pct}%` : ''}`, clock(t / 1000)];
    if (this.deadline) {
      const left = this.deadline.remainingSec - (t - this.deadline.t) / 1000;
      parts.push(`${DEADLINE_NAMES[this.deadline.limit]} in ${clock(left)}`);
    }
    if (this.last) parts.push(`last: ${this.last.text} (${clock((t - this.last.t) / 1000)} ago)`);
    return parts.join(' · ');
  }

  /** The guest's boot counter as last reported (0 before the first `boot`). */
  get boots(): number {
    return this.boot;
  }
}
