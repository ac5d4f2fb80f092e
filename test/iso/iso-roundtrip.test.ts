/**
 * ISO round trips: rebuilds are reproducible; boot images that are not files in the tree
 * (hidden, or an appended partition) are read and replayed; a BIOS image carrying a stale
 * El Torito boot info table gets it rewritten; list and extract agree on boot.catalog.
 * Fixture ISOs are made here with xorriso itself.
 */
import { execFileSync, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { cp, mkdir, readFile, rm, utimes, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hasGrub2BootInfo, isoBootInfo, isoExtract, isoList, isoRebuild, readBootInfoTable } from '../../src/iso/iso.js';
import { runCli } from '../helpers/cli.js';
import { bootInfoCheckImage } from '../helpers/cdboot.js';
import { uniform } from '../helpers/rng.js';
import { hasTool, skipNote } from '../helpers/tools.js';
import { tempDir } from '../wim/fixture.js';

const HAVE = hasTool('xorriso');
if (!HAVE) skipNote('ISO round-trip tests', 'xorriso');

/** Deterministic pseudo-random bytes (seeded). */
function bytes(n: number, seed: number): Buffer {
  const r = uniform(seed);
  const b = Buffer.alloc(n);
  for (let i = 0; i < n; i++) b[i] = Math.floor(r() * 256);
  return b;
}

const ETFS = bytes(4096, 1);
const EFISYS = Buffer.concat([bytes(512, 2), Buffer.alloc(1474560 - 512)]);

async function makeMedia(root: string): Promise<void> {
  await mkdir(path.join(root, 'boot'), { recursive: true });
  await mkdir(path.join(root, 'efi', 'microsoft', 'boot'), { recursive: true });
  await mkdir(path.join(root, 'sources'), { recursive: true });
  await writeFile(path.join(root, 'boot', 'etfsboot.com'), ETFS);
  await writeFile(path.join(root, 'efi', 'microsoft', 'boot', 'efisys.bin'), EFISYS);
  await writeFile(path.join(root, 'sources', 'install.txt'), 'payload');
  await writeFile(path.join(root, 'setup.exe'), bytes(10000, 3));
  const t = new Date('2024-05-06T07:08:09Z');
  for (const f of ['boot/etfsboot.com', 'efi/microsoft/boot/efisys.bin', 'sources/install.txt', 'setup.exe']) await utimes(path.join(root, f), t, t);
}

const xorriso = (...args: string[]): void => {
  execFileSync('xorriso', args, { stdio: 'ignore' });
};

/** The bytes of the image an El Torito entry points at. */
async function imageAt(iso: string, lba: number, length: number): Promise<Buffer> {
  const all = await readFile(iso);
  return all.subarray(lba * 2048, lba * 2048 + length);
}

/** Give an image an El Torito boot info table (and GRUB's field) as if it came from an ISO where it sat at `lba`. */
function withStaleTable(image: Buffer, lba: number): Buffer {
  const b = Buffer.from(image);
  b.fill(0, 8, 64);
  if (b.length >= 2556) b.writeBigUInt64LE(BigInt(lba) * 4n + 5n, 2548);
  b.writeUInt32LE(16, 8);
  b.writeUInt32LE(lba, 12);
  b.writeUInt32LE(b.length, 16);
  let sum = 0;
  for (let i = 64; i < b.length; i += 4) sum = (sum + b.readUInt32LE(i)) >>> 0;
  b.writeUInt32LE(sum, 20);
  return b;
}

describe.skipIf(!HAVE)('ISO round trips', () => {
  let dir: string;
  let media: string;
  beforeAll(async () => {
    dir = await tempDir('msu-isort-');
    media = path.join(dir, 'media');
    await makeMedia(media);
  });
  afterAll(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('two rebuilds of the same tree are byte-identical, whatever the directory times; SOURCE_DATE_EPOCH wins', async () => {
    const copy = path.join(dir, 'copy');
    await cp(media, copy, { recursive: true, preserveTimestamps: true });
    // the copy's folders (and its root) have other times, as after a fresh extraction
    const later = new Date('2031-01-01T00:00:00Z');
    for (const d of ['', 'boot', 'efi', 'sources']) await utimes(path.join(copy, d), later, later);
    const a = path.join(dir, 'a.iso');
    const b = path.join(dir, 'b.iso');
    await isoRebuild(media, a, { volid: 'REPRO' });
    await isoRebuild(copy, b, { volid: 'REPRO' });
    expect(Buffer.compare(await readFile(a), await readFile(b))).toBe(0);
    // the volume dates are the newest file time
    const pvd = (await readFile(a)).subarray(16 * 2048, 17 * 2048);
    expect(pvd.subarray(813, 829).toString('latin1')).toBe('2024050607080900');
    expect(pvd.subarray(830, 846).toString('latin1')).toBe('2024050607080900');

    // extract → rebuild, twice over: the same bytes again
    const x1 = path.join(dir, 'x1');
    const x2 = path.join(dir, 'x2');
    await isoExtract(a, x1);
    await isoExtract(a, x2);
    await isoRebuild(x1, path.join(dir, 'c.iso'), { likeIso: a });
    await isoRebuild(x2, path.join(dir, 'd.iso'), { likeIso: a });
    expect(Buffer.compare(await readFile(path.join(dir, 'c.iso')), await readFile(path.join(dir, 'd.iso')))).toBe(0);

    const old = process.env['SOURCE_DATE_EPOCH'];
    process.env['SOURCE_DATE_EPOCH'] = '1700000000';
    try {
      await isoRebuild(media, path.join(dir, 'e.iso'));
    } finally {
      if (old === undefined) delete process.env['SOURCE_DATE_EPOCH'];
      else process.env['SOURCE_DATE_EPOCH'] = old;
    }
    const pvdE = (await readFile(path.join(dir, 'e.iso'))).subarray(16 * 2048, 17 * 2048);
    expect(pvdE.subarray(813, 829).toString('latin1')).toBe('2023111422132000');
    // no --volid and no --like: xorriso's default, as docs/cli.md says
    expect((await isoBootInfo(path.join(dir, 'e.iso'))).volumeId).toBe('ISOIMAGE');
  }, 120_000);

  it('hidden boot images: info reads them, rebuild --like replays them hidden with the same bytes', async () => {
    const normal = path.join(dir, 'normal.iso');
    xorriso('-as', 'mkisofs', '-V', 'HIDDEN_BOOT', '-J', '-c', 'boot.catalog', '-b', 'boot/etfsboot.com', '-no-emul-boot', '-boot-load-size', '8',
      '-eltorito-alt-boot', '-e', 'efi/microsoft/boot/efisys.bin', '-no-emul-boot', '-o', normal, media);
    // Keep the boot catalog and images, remove the files: the images stay on the disc, hidden.
    const hidden = path.join(dir, 'hidden.iso');
    xorriso('-indev', normal, '-outdev', hidden, '-boot_image', 'any', 'keep', '-rm', '/boot/etfsboot.com', '/efi/microsoft/boot/efisys.bin', '--', '-commit');

    const info = await isoBootInfo(hidden);
    expect(info.entries.map((e) => [e.platform, e.loadSize, e.path, e.blocks])).toEqual([
      ['BIOS', 8, undefined, 2],
      ['UEFI', 2880, undefined, 720],
    ]);
    const cli = await runCli('iso', 'info', hidden);
    expect(cli.code).toBe(0);
    expect(cli.stdout).toContain('boot 1     BIOS bootable emulation=none load-size=8 lba=');
    expect(cli.stdout).toMatch(/boot 2 {5}UEFI bootable emulation=none load-size=2880 lba=\d+ \(not a file in the tree, 720 blocks\)/);

    const tree = path.join(dir, 'hidden-tree');
    await isoExtract(hidden, tree);
    const out = path.join(dir, 'hidden-again.iso');
    const r = await runCli('iso', 'rebuild', tree, out, '--like', hidden, '--json');
    expect(r.code).toBe(0);
    const again = await isoBootInfo(out);
    expect(again.volumeId).toBe('HIDDEN_BOOT');
    expect(again.entries.map((e) => [e.platform, e.bootable, e.emulation, e.loadSize, e.path])).toEqual([
      ['BIOS', true, 'none', 8, undefined],
      ['UEFI', true, 'none', 2880, undefined],
    ]);
    expect(Buffer.compare(await imageAt(out, again.entries[0]!.lba, ETFS.length), ETFS)).toBe(0);
    expect(Buffer.compare(await imageAt(out, again.entries[1]!.lba, EFISYS.length), EFISYS)).toBe(0);
    // the copies are not visible files, and nothing is left beside the output
    expect((await isoList(out)).map((e) => e.path).filter((p) => /msu-boot/.test(p))).toEqual([]);
    const { readdir } = await import('node:fs/promises');
    expect((await readdir(dir)).filter((n) => n.startsWith('.msu-tmp'))).toEqual([]);
  }, 120_000);

  it('an EFI image in an appended partition (Debian-style hybrid) is replayed by --like', async () => {
    const efi = path.join(dir, 'efi-part.img');
    await writeFile(efi, EFISYS);
    const hybrid = path.join(dir, 'hybrid.iso');
    xorriso('-as', 'mkisofs', '-V', 'HYBRID', '-J', '-c', 'boot.catalog', '-b', 'boot/etfsboot.com', '-no-emul-boot', '-boot-load-size', '8',
      '-append_partition', '2', '0xef', efi, '-eltorito-alt-boot', '-e', '--interval:appended_partition_2:all::', '-no-emul-boot', '-o', hybrid, media);
    const tree = path.join(dir, 'hybrid-tree');
    await isoExtract(hybrid, tree);
    const out = path.join(dir, 'hybrid-again.iso');
    const info = await isoRebuild(tree, out, { likeIso: hybrid });
    expect(info.entries.map((e) => [e.platform, e.loadSize, e.path])).toEqual([
      ['BIOS', 8, '/boot/etfsboot.com'],
      ['UEFI', 2880, undefined],
    ]);
    expect(Buffer.compare(await imageAt(out, info.entries[1]!.lba, EFISYS.length), EFISYS)).toBe(0);
  }, 120_000);

  it('--bios-boot with an image that carries a stale boot info table: the table is rewritten for its new place', async () => {
    const grub = path.join(dir, 'grub-media');
    await cp(media, grub, { recursive: true, preserveTimestamps: true });
    const stale = withStaleTable(bytes(8192, 4), 999);
    expect(readBootInfoTable(stale)).toEqual({ pvdLba: 16, fileLba: 999, length: 8192 });
    await writeFile(path.join(grub, 'boot', 'eltorito.img'), stale);
    const out = path.join(dir, 'grub.iso');
    const r = await runCli('iso', 'rebuild', grub, out, '--bios-boot', 'boot/eltorito.img');
    expect(r.code).toBe(0);
    const info = await isoBootInfo(out);
    const bios = info.entries[0]!;
    expect(bios.path).toBe('/boot/eltorito.img');
    const image = await imageAt(out, bios.lba, 8192);
    expect(readBootInfoTable(image)).toEqual({ pvdLba: 16, fileLba: bios.lba, length: 8192 });
    expect(hasGrub2BootInfo(image, bios.lba)).toBe(true);
    // beyond the table, the image is unchanged
    expect(Buffer.compare(image.subarray(64, 2548), stale.subarray(64, 2548))).toBe(0);
    // the tree itself is not modified
    expect(Buffer.compare(await readFile(path.join(grub, 'boot', 'eltorito.img')), stale)).toBe(0);
    // an image without a table is left alone
    expect(readBootInfoTable(ETFS)).toBeUndefined();
  }, 120_000);

  it('iso list shows a visible boot.catalog, which iso extract writes', async () => {
    const visible = path.join(dir, 'visible-cat.iso');
    xorriso('-as', 'mkisofs', '-J', '-c', 'boot.catalog', '-b', 'boot/etfsboot.com', '-no-emul-boot', '-boot-load-size', '8', '-o', visible, media);
    const listed = (await isoList(visible)).filter((e) => e.type === 'file').map((e) => e.path.slice(1));
    const extracted = await isoExtract(visible, path.join(dir, 'visible-tree'));
    expect(listed).toContain('boot.catalog');
    expect([...listed].sort()).toEqual([...extracted].sort());
    expect((await isoList(visible)).find((e) => e.path === '/boot.catalog')).toEqual({ path: '/boot.catalog', type: 'file', size: 2048 });
  }, 60_000);
});

describe.skipIf(!HAVE || !hasTool('wimlib-imagex'))('--split-wim part over the part size', () => {
  it('warns, naming the part and its size', async () => {
    const dir = await tempDir('msu-isosplitw-');
    try {
      const media = path.join(dir, 'media');
      await makeMedia(media);
      const payload = path.join(dir, 'payload');
      await mkdir(payload);
      // one 1.5 MB file: wimlib does not split a file, so a 1 MiB part size cannot be kept
      await writeFile(path.join(payload, 'big.bin'), bytes(1_500_000, 5));
      execFileSync('wimlib-imagex', ['capture', payload, path.join(media, 'sources', 'install.wim'), 'T', '--compress=none', '--no-acls'], { stdio: 'ignore' });
      const out = path.join(dir, 'split.iso');
      const r = await runCli('iso', 'rebuild', media, out, '--split-wim', '1');
      expect(r.code).toBe(0);
      expect(r.stderr).toMatch(new RegExp(`msu: warning: ${out.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: sources/install\\d*\\.swm is \\d+ bytes, over the 1 MiB part size`));
      const warned: string[] = [];
      await isoRebuild(media, path.join(dir, 'split2.iso'), { splitWimMiB: 1, onWarning: (m) => warned.push(m) });
      expect(warned.length).toBeGreaterThan(0);
      expect(warned.every((m) => /^sources\/install\d*\.swm is (\d+) bytes/.test(m) && Number(/is (\d+) bytes/.exec(m)![1]) > 1024 * 1024)).toBe(true);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }, 120_000);
});

const HAVE_QEMU = HAVE && hasTool('qemu-system-x86_64') && existsSync('/usr/share/seabios/bios-256k.bin');
if (HAVE && !HAVE_QEMU) skipNote('BIOS boot of a rebuilt ISO under SeaBIOS', 'qemu-system-x86_64 / seabios');

/** Boot `iso` from CD under SeaBIOS (TCG) until the guest prints a BOOTINFO line on COM1; return it. */
async function bootCd(iso: string, log: string): Promise<string> {
  const child = spawn('qemu-system-x86_64', ['-M', 'pc', '-m', '32', '-display', 'none', '-nodefaults', '-serial', `file:${log}`, '-cdrom', iso, '-boot', 'd', '-no-reboot'], { stdio: 'ignore' });
  try {
    for (let i = 0; i < 600; i++) {
      await new Promise((r) => setTimeout(r, 200));
      const text = existsSync(log) ? await readFile(log, 'latin1') : '';
      const m = /BOOTINFO \w+/.exec(text);
      if (m) return m[0];
      if (child.exitCode !== null) break;
    }
    return 'no BOOTINFO line';
  } finally {
    child.kill('SIGTERM');
  }
}

describe.skipIf(!HAVE_QEMU)('a rebuilt ISO boots under SeaBIOS', () => {
  it('--bios-boot with a stale boot info table: the guest finds itself through the rewritten table', async () => {
    const dir = await tempDir('msu-isoboot-');
    try {
      const media = path.join(dir, 'media');
      await makeMedia(media);
      const fresh = bootInfoCheckImage();
      const stale = withStaleTable(fresh, 999);
      await writeFile(path.join(media, 'boot', 'cdboot.img'), stale);
      const out = path.join(dir, 'boot.iso');
      await isoRebuild(media, out, { biosBoot: 'boot/cdboot.img' });
      expect(await bootCd(out, path.join(dir, 'boot.log'))).toBe('BOOTINFO OK');
      // control: the same image on a disc whose table is left stale does not find itself
      const control = path.join(dir, 'control.iso');
      execFileSync('xorriso', ['-as', 'mkisofs', '-c', 'boot.catalog', '-b', 'boot/cdboot.img', '-no-emul-boot', '-boot-load-size', '4', '-o', control, media], { stdio: 'ignore' });
      expect(await bootCd(control, path.join(dir, 'control.log'))).toBe('BOOTINFO BAD');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }, 240_000);
});
