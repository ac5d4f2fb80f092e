/** What a person watching a run sees (src/vm/progress.ts) and the deadlines they can set (src/vm/spec.ts). */
import { describe, expect, it } from 'vitest';
import { clock, describeTimeouts, RunProgress } from '../../src/vm/progress.js';
import type { RunEvent } from '../../src/vm/runner.js';
import { applyTimeoutOverrides, effectiveTimeouts, formatDuration, parseDuration, TIMEOUT_DEFAULTS, validateRunSpec } from '../../src/vm/spec.js';

const TO = { bootSec: 60, heartbeatSec: 30, perBootSec: 600, totalSec: 3600, maxBoots: 4, tcgFactor: 10, graceSec: 5 };

describe('RunProgress', () => {
  it('turns events into plain lines and a live status line: phase, elapsed, next deadline, last guest event', () => {
    const p = new RunProgress();
    const lines = ([
      { t: 0, type: 'prepare', accel: 'tcg', qemu: '7.2.22', timeouts: TO },
      { t: 100, type: 'qemu-start', start: 1, pid: 42 },
      { t: 4000, type: 'guest', boot: 1, event: { type: 'boot', n: 1 } },
      { t: 5000, type: 'guest', boot: 1, event: { type: 'step', id: 'kb', name: 'installing KB5034441', state: 'running' } },
      { t: 6000, type: 'guest', boot: 1, event: { type: 'progress', pct: 40, text: '3/7' } },
      { t: 6500, type: 'guest', boot: 1, event: { type: 'heartbeat' } },
    ] as RunEvent[]).map((e) => p.update(e));
    expect(lines).toEqual([
      '[ 0:00] QEMU 7.2.22, accelerator tcg',
      '[ 0:00] start 1: QEMU started',
      '[ 0:04] boot 1: guest is up',
      '[ 0:05] boot 1: installing KB5034441 (running)',
      '[ 0:06] boot 1: 40% 3/7',
      undefined,
    ]);
    // 10 s into the run: idle deadline re-armed by the heartbeat at 6.5 s (30 s) → 26.5 s left
    expect(p.status(10_000)).toBe('boot 1: installing KB5034441 40% · 0:10 · idle deadline in 0:26 · last: 40% 3/7 (0:04 ago)');
    // the runner's status event is the authority on the deadline
    p.update({ t: 12_000, type: 'status', start: 1, boots: 1, bootAgeSec: 12, heartbeatAgeSec: 5, deadline: { limit: 'total', remainingSec: 20 } } as RunEvent);
    expect(p.status(15_000)).toContain('run limit in 0:17');
    expect(p.update({ t: 16_000, type: 'guest-reset', boots: 1 } as RunEvent)).toBe('[ 0:16] reboot (in place) after boot 1');
    expect(p.status(16_000)).toMatch(/^reboot: installing KB5034441 40% · 0:16/);
    expect(p.update({ t: 17_000, type: 'abort', hard: false, reason: 'SIGINT' } as RunEvent)).toBe('[ 0:17] stopping the VM (SIGINT); Ctrl-C again kills it at once');
    expect(p.status(17_000)).toMatch(/^stopping \(Ctrl-C again kills QEMU at once\)/);
    expect(p.update({ t: 18_000, type: 'finished', ok: false, message: 'the run was cancelled (SIGINT)' } as RunEvent)).toBe('[ 0:18] failed: the run was cancelled (SIGINT)');
    expect(p.status(18_000)).not.toContain('deadline');
  });

  it('the boot deadline counts down from each QEMU start until the guest boots', () => {
    const p = new RunProgress();
    p.update({ t: 0, type: 'prepare', accel: 'kvm', qemu: '7.2.22', timeouts: TO } as RunEvent);
    p.update({ t: 1000, type: 'qemu-start', start: 2, pid: 1 } as RunEvent);
    expect(p.status(31_000)).toBe('start 2: booting · 0:31 · boot deadline in 0:30');
  });

  it('clock formats minutes and hours', () => {
    expect([clock(0), clock(75), clock(3725), clock(-3)]).toEqual(['0:00', '1:15', '1:02:05', '0:00']);
  });
});

describe('deadlines', () => {
  it('the start-of-run line shows the no-KVM defaults (generous, × tcgFactor) and how to change them', () => {
    const tcg = effectiveTimeouts({ ...TIMEOUT_DEFAULTS }, 'tcg');
    expect(describeTimeouts(tcg, 'tcg')).toBe('deadlines (no KVM: TCG, spec values × 10): boot 7.5 h, idle 2.5 h, per boot 30 h, total 5 d, at most 12 boot(s); --boot-timeout, --idle-timeout and --timeout set them');
    expect(describeTimeouts({ ...TIMEOUT_DEFAULTS }, 'kvm')).toBe('deadlines: boot 45 min, idle 15 min, per boot 3 h, total 12 h, at most 12 boot(s); --boot-timeout, --idle-timeout and --timeout set them');
  });

  it('parseDuration takes s/m/h/d or plain seconds and refuses the rest with the option name', () => {
    expect(['90s', '30m', '1.5h', '2d', '600'].map((d) => parseDuration(d, '--timeout'))).toEqual([90, 1800, 5400, 172800, 600]);
    for (const bad of ['', '0', '8d', '5 min', '-1m', 'm']) {
      expect(() => parseDuration(bad, '--idle-timeout')).toThrow(`--idle-timeout must be a duration from 1s to 7d such as 90s, 30m, 2h (plain numbers are seconds), got ${JSON.stringify(bad)}`);
    }
    expect([formatDuration(45), formatDuration(450), formatDuration(18000), formatDuration(432000)]).toEqual(['45 s', '7.5 min', '5 h', '5 d']);
  });

  it('overrides replace the effective (TCG-scaled) values as given; the per-boot cap follows', () => {
    const tcg = effectiveTimeouts(validateRunSpec({ id: 'x', vm: { disks: [{ role: 'system', path: 'a' }] } }).timeouts, 'tcg');
    expect(tcg.totalSec).toBe(12 * 3600 * 10);
    const o = applyTimeoutOverrides(tcg, { totalSec: 7200, bootSec: 600, heartbeatSec: 300 });
    expect(o).toEqual({ ...tcg, totalSec: 7200, bootSec: 600, heartbeatSec: 300, perBootSec: 7200 });
    expect(applyTimeoutOverrides(TO, {})).toEqual(TO);
    expect(applyTimeoutOverrides(TO, { bootSec: 900 }).perBootSec).toBe(900);
    // --timeout alone bounds everything: the boot deadline and per-boot cap come down with it
    expect(applyTimeoutOverrides(TO, { totalSec: 40 })).toEqual({ ...TO, totalSec: 40, bootSec: 40, perBootSec: 40 });
    expect(() => applyTimeoutOverrides(TO, { bootSec: 7200, totalSec: 3600 })).toThrow('--boot-timeout (2 h) is longer than --timeout (60 min)');
  });
});
