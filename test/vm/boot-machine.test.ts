/** The state machine of one QEMU process (src/vm/boot-machine.ts), without QEMU: events in, effects out. */
import { describe, expect, it } from 'vitest';
import { checkNewStart, initialBootState, step, type BootConfig, type BootEvent, type Effect, type RunView } from '../../src/vm/boot-machine.js';

const TO = { bootSec: 10, heartbeatSec: 5, perBootSec: 60, totalSec: 120, maxBoots: 3, tcgFactor: 1, graceSec: 2 };
const cfg = (over: Partial<BootConfig> = {}): BootConfig => ({ timeouts: TO, accel: 'kvm', rebootPolicy: 'restart-process', start: 1, runStart: 0, statusEveryMs: 5000, ...over });

function machine(over: Partial<BootConfig> = {}) {
  const c = cfg(over);
  const s = initialBootState(c, 0);
  const view: RunView = { periods: 1, boots: 0 };
  const feed = (ev: BootEvent, at: number): Effect[] => step(s, ev, at, c, view);
  return { s, view, feed };
}
const ends = (fx: Effect[]) => fx.filter((f) => f.do === 'end').map((f) => (f.do === 'end' ? f.outcome : undefined));

describe('boot machine', () => {
  it('booting → running → finishing → ended by the guest power-off; later events change nothing', () => {
    const m = machine();
    expect(m.s.phase).toBe('booting');
    m.feed({ kind: 'guest', event: { type: 'boot', n: 1 } }, 1000);
    expect(m.s.phase).toBe('running');
    m.feed({ kind: 'guest', event: { type: 'done' } }, 2000);
    expect(m.s.phase).toBe('finishing');
    expect(ends(m.feed({ kind: 'shutdown', reason: 'guest-shutdown' }, 2500))).toEqual([{ kind: 'shutdown' }]);
    expect(m.s.phase).toBe('ended');
    expect(m.feed({ kind: 'panic', info: {} }, 2600)).toEqual([]);
    expect(m.feed({ kind: 'tick' }, 999_999)).toEqual([]);
  });

  it('the watchdogs fire from ticks, in order, with a named limit', () => {
    const boot = machine();
    expect(boot.feed({ kind: 'tick' }, 9000).filter((f) => f.do === 'end')).toEqual([]);
    expect(ends(boot.feed({ kind: 'tick' }, 10_001))).toMatchObject([{ kind: 'fail', failure: { code: 'watchdog', limit: 'boot' }, stop: true, dumpName: 'boot' }]);

    const idle = machine({ accel: 'tcg' });
    idle.feed({ kind: 'guest', event: { type: 'boot', n: 1 } }, 1000);
    idle.feed({ kind: 'guest', event: { type: 'heartbeat' } }, 4000);
    expect(ends(idle.feed({ kind: 'tick' }, 8500))).toEqual([]);
    expect(ends(idle.feed({ kind: 'tick' }, 9100))).toEqual([
      { kind: 'fail', stop: true, dumpName: 'heartbeat', failure: { code: 'watchdog', limit: 'heartbeat', message: 'watchdog "heartbeat" fired: no protocol line from the guest for 5.1 s in boot 1 (timeouts.heartbeatSec = 5 s); last step: none' } },
    ]);
  });

  it('done without power-off: the power button after grace, then the poweroffAfterDone limit', () => {
    const m = machine();
    m.feed({ kind: 'guest', event: { type: 'boot', n: 1 } }, 0);
    m.view.terminal = 'done';
    m.feed({ kind: 'guest', event: { type: 'done' } }, 1000);
    const fx = m.feed({ kind: 'tick' }, 3100);
    expect(fx).toEqual([{ do: 'emit', event: { type: 'powerdown', reason: 'guest sent done but did not power off within 2 s' } }, { do: 'powerdown' }]);
    expect(m.s.phase).toBe('poweringDown');
    expect(ends(m.feed({ kind: 'tick' }, 5200))).toMatchObject([{ failure: { limit: 'poweroffAfterDone' } }]);
  });

  it('in-place resets: duplicates are debounced, each real reset starts a boot period, maxBoots caps the periods', () => {
    const m = machine({ rebootPolicy: 'in-place' });
    m.feed({ kind: 'guest', event: { type: 'boot', n: 1 } }, 1000);
    expect(m.feed({ kind: 'reset' }, 2000)).toEqual([{ do: 'emit', event: { type: 'guest-reset', boots: 0 } }]);
    expect(m.view.periods).toBe(2);
    expect(m.s).toMatchObject({ phase: 'booting', periodStart: 2000, bootSeenAt: undefined });
    // the second RESET of the same reboot
    expect(m.feed({ kind: 'reset' }, 2100)).toEqual([]);
    // the boot deadline runs from the reset, not from the QEMU start
    expect(ends(m.feed({ kind: 'tick' }, 11_500))).toEqual([]);
    m.feed({ kind: 'guest', event: { type: 'boot', n: 2 } }, 11_600);
    m.feed({ kind: 'reset' }, 12_000);
    expect(m.view.periods).toBe(3);
    m.feed({ kind: 'guest', event: { type: 'boot', n: 3 } }, 13_000);
    const fx = m.feed({ kind: 'reset' }, 14_000);
    expect(ends(fx)).toEqual([{ kind: 'fail', stop: true, dumpName: 'maxBoots', failure: { code: 'watchdog', limit: 'maxBoots', message: 'watchdog "maxBoots" fired: the guest rebooted 3 times and timeouts.maxBoots = 3 allows no further boot (reboot storm?)' } }]);
    // with one QEMU process per boot, RESET events are not boots
    const r = machine();
    expect(r.feed({ kind: 'reset' }, 1000)).toEqual([]);
  });

  it('restart-process: the same boot count and message before each new QEMU start', () => {
    expect(checkNewStart(2, TO)).toBeUndefined();
    expect(checkNewStart(3, TO)).toMatchObject({ kind: 'fail', stop: false, failure: { limit: 'maxBoots', message: 'watchdog "maxBoots" fired: the guest rebooted 3 times and timeouts.maxBoots = 3 allows no further boot (reboot storm?)' } });
  });

  it('QMP and host events end the process with the matching failure code', () => {
    const cases: Array<[BootEvent, string, string]> = [
      [{ kind: 'shutdown', reason: 'guest-reset' }, 'reset', ''],
      [{ kind: 'shutdown', reason: 'host-signal' }, 'fail', 'unexpected-shutdown'],
      [{ kind: 'panic', info: { action: 'pause' } }, 'fail', 'guest-panicked'],
      [{ kind: 'io-error', device: 'disk0', reason: 'No space left on device' }, 'fail', 'block-io-error'],
      [{ kind: 'vm-stopped', status: 'internal-error', why: '' }, 'fail', 'vm-stopped'],
      [{ kind: 'qemu-exited', exitCode: 1, why: 'boom' }, 'fail', 'qemu-exited'],
      [{ kind: 'tpm-exited', exitCode: 9, why: '' }, 'fail', 'tpm-error'],
      [{ kind: 'tpm-missing' }, 'fail', 'tpm-error'],
      [{ kind: 'abort', reason: 'SIGINT' }, 'fail', 'aborted'],
      [{ kind: 'host-error', message: 'disk full' }, 'fail', 'host-error'],
    ];
    for (const [ev, kind, code] of cases) {
      const [o] = ends(machine().feed(ev, 100));
      expect(o?.kind, ev.kind).toBe(kind);
      if (code) expect(o?.kind === 'fail' && o.failure.code, ev.kind).toBe(code);
    }
    const [a] = ends(machine().feed({ kind: 'abort', reason: 'SIGINT' }, 1));
    expect(a).toMatchObject({ failure: { message: 'the run was cancelled (SIGINT)' } });
  });

  it('status events every statusEveryMs carry the next deadline', () => {
    const m = machine();
    m.feed({ kind: 'guest', event: { type: 'boot', n: 1 } }, 1000);
    m.view.lastStep = { id: 'x', name: 'Install', state: 'running' };
    expect(m.feed({ kind: 'tick' }, 4000)).toEqual([]);
    expect(m.feed({ kind: 'tick' }, 5000)).toEqual([
      { do: 'emit', event: { type: 'status', start: 1, boots: 0, bootAgeSec: 5, heartbeatAgeSec: 4, step: 'Install (running)', deadline: { limit: 'heartbeat', remainingSec: 1 } } },
    ]);
  });
});
