/**
 * The runner under UEFI: real OVMF (Debian's ovmf) and QEMU under TCG, with a GRUB guest
 * (test/helpers/efi.ts). Covers what the boot-sector tests cannot: the per-run copy of the
 * OVMF variables, a UEFI boot from the system disk, reboots through the firmware's
 * ResetSystem, and Secure Boot actually enforced (an unsigned loader is refused).
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { runVm, type RunEvent } from '../../src/vm/runner.js';
import { validateRunSpec } from '../../src/vm/spec.js';
import { ovmfPaths } from '../../src/vm/features.js';
import { readStatusFile } from '../../src/vm/status-disk.js';
import { grubEfiDisk, hasGrubEfi } from '../helpers/efi.js';
import { hasTool, skipNote } from '../helpers/tools.js';

const ovmfOk = (() => {
  try {
    ovmfPaths(false);
    ovmfPaths(true);
    return true;
  } catch {
    return false;
  }
})();
const ready = hasTool('qemu-system-x86_64') && hasTool('qemu-img') && hasTool('mformat') && ovmfOk && hasGrubEfi();
if (!ready) skipNote('OVMF end-to-end tests', 'qemu-system-x86_64, ovmf, mtools and grub-efi-amd64-bin (grub-mkimage)');

const root = mkdtempSync(path.join(os.tmpdir(), 'msu-ovmf-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
const sha = (f: string): string => createHash('sha256').update(readFileSync(f)).digest('hex');

const SCRIPT = `set boot='@@MSU {"type":"boot","n":'
set done='@@MSU {"type":"done","ok":true}'
set step='@@MSU {"type":"step","id":"round","name":"round","state":"ok"}'
load_env round
if [ "$round" = "0" ]; then set round=1; else set round=2; fi
save_env round
echo "\${boot}\${round}}"
if [ "$round" = "2" ]; then
  echo "$done"
  halt
fi
echo "$step"
reboot
`;

function spec(id: string, secureBoot: boolean, timeouts: Record<string, number>) {
  return validateRunSpec({
    id,
    vm: { accel: 'tcg', firmware: { type: 'ovmf', secureBoot }, cpus: 1, memMiB: 256, pvpanic: false, disks: [{ role: 'system', path: 'efi.img', format: 'raw', bus: 'ahci' }] },
    timeouts: { tcgFactor: 1, graceSec: 2, maxBoots: 4, ...timeouts },
  });
}

describe.skipIf(!ready)('runVm under OVMF (TCG) with a GRUB guest', () => {
  it('boots UEFI from the system disk twice (firmware reset in between) and keeps state on that disk; the vars template is untouched', { timeout: 90_000 }, async () => {
    const dir = path.join(root, 'two');
    mkdirSync(dir);
    const disk = path.join(dir, 'efi.img');
    await grubEfiDisk(disk, SCRIPT, { round: '0' });
    const template = ovmfPaths(false).varsTemplate;
    const before = sha(template);
    const events: RunEvent[] = [];
    const r = await runVm(spec('uefi2', false, { bootSec: 40, heartbeatSec: 40, perBootSec: 60, totalSec: 85 }), { runDir: path.join(dir, 'run'), baseDir: dir, onEvent: (e) => events.push(e) });
    expect(r).toMatchObject({ ok: true, starts: 2, boots: 2, shutdownReason: 'guest-shutdown', terminal: 'done' });
    expect(events.filter((e) => e.type === 'qmp' && e.event === 'SHUTDOWN').map((e) => (e.type === 'qmp' ? e.data.reason : ''))).toEqual(['guest-reset', 'guest-shutdown']);
    // the run's own variable store, a copy of the template; the template itself unchanged
    expect(existsSync(path.join(dir, 'run', 'OVMF_VARS.fd'))).toBe(true);
    expect(sha(template)).toBe(before);
    const env = Buffer.from((await readStatusFile(disk, 'EFI/BOOT/grubenv'))!).toString('latin1');
    expect(env).toMatch(/^# GRUB Environment Block\nround=2\n/);
  });

  it('Secure Boot on (Microsoft keys enrolled): the unsigned loader is refused and the boot deadline names the cause', { timeout: 90_000 }, async () => {
    const dir = path.join(root, 'sb');
    mkdirSync(dir);
    await grubEfiDisk(path.join(dir, 'efi.img'), SCRIPT, { round: '0' });
    const r = await runVm(spec('uefisb', true, { bootSec: 14, heartbeatSec: 14, perBootSec: 40, totalSec: 60 }), { runDir: path.join(dir, 'run'), baseDir: dir });
    expect(r.ok).toBe(false);
    expect(r.failure).toMatchObject({ code: 'watchdog', limit: 'boot' });
    expect(r.boots).toBe(0);
    expect(r.screendumps).toHaveLength(1);
    const serial = readFileSync(path.join(dir, 'run', 'serial.log'), 'latin1');
    expect(serial).not.toContain('@@MSU');
    expect(serial).toMatch(/Access Denied/);
  });
});
