/**
 * Stand-ins for Windows system disks, built without Windows: one NTFS file system over the
 * whole disk (so the host can read it back with ntfs-3g's ntfscat/ntfsls after a raw
 * conversion) holding what libguestfs inspection needs to call it Windows: a PE32+ cmd.exe
 * and SYSTEM/SOFTWARE hives (test/helpers/regf.ts, filled with hivexsh).
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { applianceLaunchFailed, guestEnv } from '../../src/vm/wua.js';
import { emptyHive, hivexScript, type HiveValue } from './regf.js';

/** A minimal PE32+ x86-64 console image: enough for `file` (and libguestfs) to name its architecture. */
export function pe64(): Buffer {
  const b = Buffer.alloc(1024);
  b.write('MZ', 0, 'latin1');
  b.writeUInt32LE(0x80, 0x3c); // e_lfanew
  b.write('PE\0\0', 0x80, 'latin1');
  b.writeUInt16LE(0x8664, 0x84); // IMAGE_FILE_MACHINE_AMD64
  b.writeUInt16LE(0xf0, 0x94); // SizeOfOptionalHeader
  b.writeUInt16LE(0x22, 0x96); // executable, large address aware
  b.writeUInt16LE(0x20b, 0x98); // PE32+
  b.writeUInt16LE(3, 0x98 + 68); // console subsystem
  return b;
}

export interface FakeWindows {
  /** Extra files: guest path (forward slashes, from the volume root) -> content. */
  files?: Record<string, string | Buffer>;
  /** Extra SYSTEM hive keys/values. */
  system?: Record<string, Record<string, HiveValue>>;
}

export const SOFTWARE_KEYS: Record<string, Record<string, HiveValue>> = {
  'Microsoft\\Windows NT\\CurrentVersion': {
    ProductName: { sz: 'Windows 11 Pro' },
    CurrentVersion: { sz: '6.3' },
    CurrentMajorVersionNumber: { dword: 10 },
    CurrentMinorVersionNumber: { dword: 0 },
    CurrentBuildNumber: { sz: '26100' },
    InstallationType: { sz: 'Client' },
    EditionID: { sz: 'Professional' },
  },
  'Microsoft\\Windows\\CurrentVersion\\Setup\\State': { ImageState: { sz: 'IMAGE_STATE_SPECIALIZE_RESEAL_TO_AUDIT' } },
  'Policies\\Microsoft\\Windows\\WindowsUpdate\\AU': { UseWUServer: { dword: 1 } },
};

export const SYSTEM_KEYS: Record<string, Record<string, HiveValue>> = {
  Select: { Current: { dword: 1 }, Default: { dword: 1 }, LastKnownGood: { dword: 1 } },
  'ControlSet001\\Control\\ComputerName\\ComputerName': { ComputerName: { sz: 'AUDIT-PC' } },
  'ControlSet001\\Services\\Tcpip\\Parameters': { Hostname: { sz: 'audit-pc' } },
  'ControlSet001\\Control\\Power': { HibernateEnabled: { dword: 1 } },
  'Setup\\Status': { AuditBoot: { dword: 1 } },
};

function hive(dir: string, name: string, keys: Record<string, Record<string, HiveValue>>): string {
  const file = path.join(dir, name);
  writeFileSync(file, emptyHive());
  writeFileSync(`${file}.txt`, hivexScript(keys));
  execFileSync('hivexsh', ['-w', '-f', `${file}.txt`, file]);
  return file;
}

/**
 * Build raw disk images (one per entry, `sizeMiB` each) in one libguestfs session, then
 * convert each to qcow2 beside it. Returns the qcow2 paths.
 */
export function buildFakeWindows(dir: string, disks: Record<string, FakeWindows>, opts: { sizeMiB?: number; tcg?: boolean } = {}): Record<string, string> {
  const sizeMiB = opts.sizeMiB ?? 64;
  const names = Object.keys(disks);
  const script: string[] = ['run'];
  const out: Record<string, string> = {};
  names.forEach((name, i) => {
    const src = path.join(dir, `${name}-src`);
    mkdirSync(src, { recursive: true });
    const raw = path.join(dir, `${name}.raw`);
    writeFileSync(raw, '');
    execFileSync('truncate', ['-s', `${sizeMiB}M`, raw]);
    const dev = `/dev/sd${String.fromCharCode(97 + i)}`;
    const spec = disks[name]!;
    const files: Record<string, string | Buffer> = {
      'Windows/System32/cmd.exe': pe64(),
      'Users/Administrator/Documents/keep.txt': 'the user\'s own file\r\n',
      ...(spec.files ?? {}),
    };
    script.push(`mkfs ntfs ${dev}`, `mount ${dev} /`, 'mkdir-p /Windows/System32/config', 'mkdir-p /ProgramData');
    script.push(`upload ${hive(src, 'SOFTWARE', SOFTWARE_KEYS)} /Windows/System32/config/SOFTWARE`);
    script.push(`upload ${hive(src, 'SYSTEM', { ...SYSTEM_KEYS, ...(spec.system ?? {}) })} /Windows/System32/config/SYSTEM`);
    Object.entries(files).forEach(([rel, content], k) => {
      const local = path.join(src, `f${k}`);
      writeFileSync(local, content);
      script.push(`mkdir-p /${path.posix.dirname(rel)}`, `upload ${local} /${rel}`);
    });
    script.push('umount /');
    out[name] = path.join(dir, `${name}.qcow2`);
  });
  // under TCG where KVM does not run libguestfs's appliance (opts.tcg from applianceNeedsTcg), as src/vm/wua.ts does
  const guestfish = (tcg: boolean) =>
    execFileSync('guestfish', names.flatMap((n) => ['-a', path.join(dir, `${n}.raw`)]), { input: script.join('\n') + '\n', env: { ...process.env, ...guestEnv(process.env, tcg) }, stdio: ['pipe', 'pipe', 'pipe'] });
  try {
    guestfish(opts.tcg ?? false);
  } catch (e) {
    if (opts.tcg || !applianceLaunchFailed(String((e as { stderr?: Buffer }).stderr))) throw e;
    guestfish(true);
  }
  for (const n of names) execFileSync('qemu-img', ['convert', '-f', 'raw', '-O', 'qcow2', path.join(dir, `${n}.raw`), out[n]!]);
  return out;
}

/** A qcow2 (with its backing chain) as a raw NTFS image the host can read with ntfscat/ntfsls. */
export function toRaw(qcow2: string, raw: string): string {
  execFileSync('qemu-img', ['convert', '-O', 'raw', qcow2, raw]);
  return raw;
}

/** One file's bytes from a raw NTFS image, or undefined when it does not exist. */
export function ntfsCat(raw: string, file: string): Buffer | undefined {
  try {
    return execFileSync('ntfscat', ['-f', raw, file], { stdio: ['ignore', 'pipe', 'ignore'], maxBuffer: 64 * 1024 * 1024 });
  } catch {
    return undefined;
  }
}

/** Names in one directory of a raw NTFS image (sorted; system files left out), or undefined when it does not exist. */
export function ntfsLs(raw: string, dir: string): string[] | undefined {
  try {
    const out = execFileSync('ntfsls', ['-f', '-p', dir, raw], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
    return out.split('\n').map((l) => l.trim()).filter((l) => l && !l.startsWith('$') && l !== '.' && l !== '..').sort();
  } catch {
    return undefined;
  }
}

/** A value from a hive file (hivexget), or undefined when the key or value is missing. */
export function hiveValue(hiveFile: string, key: string, value: string): string | undefined {
  try {
    return execFileSync('hivexget', [hiveFile, key, value], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  } catch {
    return undefined;
  }
}
