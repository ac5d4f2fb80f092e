/**
 * A UEFI guest for the runner tests under OVMF: GRUB built with grub-mkimage (Debian
 * grub-efi-amd64-bin) as \EFI\BOOT\BOOTX64.EFI on an MBR+FAT disk, running a GRUB script
 * that prints protocol lines to COM1 and keeps state in a GRUB environment block
 * (load_env/save_env write it in place on FAT). The embedded config only switches to the
 * serial terminal and hands over to normal mode, which has the scripting (if, variables).
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createStatusDisk } from '../../src/vm/status-disk.js';
import { hasTool } from './tools.js';

const GRUB_MODULES = '/usr/lib/grub/x86_64-efi';

export function hasGrubEfi(): boolean {
  return hasTool('grub-mkimage') && existsSync(path.join(GRUB_MODULES, 'normal.mod'));
}

/** A 1024-byte GRUB environment block holding `vars`. */
export function grubEnvBlock(vars: Record<string, string>): Buffer {
  const head = Buffer.from(`# GRUB Environment Block\n${Object.entries(vars).map(([k, v]) => `${k}=${v}\n`).join('')}`);
  return Buffer.concat([head, Buffer.alloc(1024 - head.length, '#')]);
}

/** Write `disk` (raw, 16 MiB): BOOTX64.EFI, the script as EFI/BOOT/msu.cfg, and grubenv. */
export async function grubEfiDisk(disk: string, script: string, env: Record<string, string> = {}): Promise<void> {
  const tmp = mkdtempSync(path.join(os.tmpdir(), 'msu-grub-'));
  try {
    writeFileSync(path.join(tmp, 'embed.cfg'), 'serial --unit=0 --speed=115200\nterminal_output serial\nnormal ($root)/EFI/BOOT/msu.cfg\n');
    const efi = path.join(tmp, 'BOOTX64.EFI');
    execFileSync('grub-mkimage', [
      '-O', 'x86_64-efi', '-o', efi, '-p', '/EFI/BOOT', '-c', path.join(tmp, 'embed.cfg'), '--compression=none',
      'normal', 'serial', 'terminal', 'echo', 'halt', 'reboot', 'test', 'loadenv', 'fat', 'part_msdos',
    ], { stdio: 'pipe' });
    await createStatusDisk(disk, {
      sizeMiB: 16,
      label: 'EFIBOOT',
      files: { 'EFI/BOOT/BOOTX64.EFI': readFileSync(efi), 'EFI/BOOT/msu.cfg': script, 'EFI/BOOT/grubenv': grubEnvBlock(env) },
    });
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}
