import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { mkdir, readFile, readdir, rm, truncate, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FormatError, UsageError } from '../../src/errors.js';
import { bootArgsFromMkisofs, decodeBackslashCodes, isoBootInfo, isoExtract, isoList, isoRebuild, ISO_SINGLE_EXTENT_MAX, largeInstallWim, parseLsdl, shUnquote } from '../../src/iso/iso.js';
import { runCli } from '../helpers/cli.js';
import { hasTool, skipNote } from '../helpers/tools.js';
import { seededBytes } from '../helpers/rng.js';
import { tempDir } from '../wim/fixture.js';

const HAVE = hasTool('xorriso');
if (!HAVE) skipNote('ISO tests', 'xorriso');
if (!hasTool('7zz')) skipNote('Joliet name check', '7zz (Debian 7zip)');

describe('xorriso output parsing (pure)', () => {
  it('undoes shell quoting', () => {
    expect(shUnquote(`'/sub dir/it'"'"'s.txt'`)).toBe("/sub dir/it's.txt");
  });
  it('parses -find -exec lsdl lines', () => {
    const out = [
      "drwxr-xr-x    1 0        0               0 Nov 23 12:16 '/'",
      "-rw-r--r--    1 0        0      5000000000 Jan  2  2024 '/sources/install.wim'",
      "drwxr-xr-x    1 0        0               0 Nov 23 12:13 '/sources'",
    ].join('\n');
    expect(parseLsdl(out)).toEqual([
      { path: '/sources', type: 'dir', size: 0 },
      { path: '/sources/install.wim', type: 'file', size: 5000000000 },
    ]);
  });
  it('decodes the backslash codes of encode_output, bytes read as UTF-8', () => {
    expect(decodeBackslashCodes('/plain name.txt')).toBe('/plain name.txt');
    expect(decodeBackslashCodes('/a\\e[31mb\\ntwo\\\\x\\303\\274\\x41\\cC\\t')).toBe('/a\x1b[31mb\ntwo\\x\u00fcA\x03\t');
    expect(parseLsdl("-rw-r--r--    1 0        0               3 Dec  5 12:14 '/two\\nlines'\n-rw-r--r--    1 0        0               1 Dec  5 12:14 '/it'\"'\"'s'"))
      .toEqual([{ path: "/it's", type: 'file', size: 1 }, { path: '/two\nlines', type: 'file', size: 3 }]);
  });
  it('keeps only El Torito options from as_mkisofs', () => {
    expect(bootArgsFromMkisofs(["-V 'X'", "--modification-date='2026'", "-b '/boot/etfsboot.com'", '-no-emul-boot', '-boot-load-size 8', '-eltorito-alt-boot', "-e '/efi/x.bin'", '-no-emul-boot', '-boot-load-size 1']))
      .toEqual(['-b', '/boot/etfsboot.com', '-no-emul-boot', '-boot-load-size', '8', '-eltorito-alt-boot', '-e', '/efi/x.bin', '-no-emul-boot', '-boot-load-size', '1']);
  });
});

describe.skipIf(!HAVE)('ISO list / extract / boot info / rebuild', () => {
  let dir: string;
  let src: string;
  let iso: string;
  beforeAll(async () => {
    dir = await tempDir('msu-isotest-');
    src = path.join(dir, 'media');
    await mkdir(path.join(src, 'boot'), { recursive: true });
    await mkdir(path.join(src, 'efi', 'microsoft', 'boot'), { recursive: true });
    await mkdir(path.join(src, 'sources'), { recursive: true });
    // Fake boot images: 4 KiB "etfsboot", 1.44 MB "efisys" FAT image.
    await writeFile(path.join(src, 'boot', 'etfsboot.com'), Buffer.alloc(4096, 0xeb));
    await writeFile(path.join(src, 'efi', 'microsoft', 'boot', 'efisys.bin'), Buffer.alloc(1474560, 0));
    await writeFile(path.join(src, 'sources', 'a long name with spaces and ünïcode.txt'), 'hello');
    await writeFile(path.join(src, 'setup.exe'), Buffer.alloc(10000, 1));
    iso = path.join(dir, 'first.iso');
    await isoRebuild(src, iso, { volid: 'MSU_TEST_X64' });
  }, 60_000);
  afterAll(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('isoRebuild writes BIOS (load size 8) and UEFI no-emulation entries, checked with xorriso itself', async () => {
    const report = execFileSync('xorriso', ['-indev', iso, '-report_el_torito', 'plain'], { stdio: ['ignore', 'pipe', 'ignore'] }).toString();
    expect(report).toMatch(/El Torito boot img :\s+1\s+BIOS\s+y\s+none\s+0x0000\s+0x00\s+8\s+\d+/);
    expect(report).toMatch(/El Torito boot img :\s+2\s+UEFI\s+y\s+none\s+0x0000\s+0x00\s+2880\s+\d+/);
    expect(report).toContain('El Torito img path :   1  /boot/etfsboot.com');
    expect(report).toContain('El Torito img path :   2  /efi/microsoft/boot/efisys.bin');
    // The El Torito validation entry names platform 0xEF for the UEFI section: read the catalog bytes.
    const bytes = await readFile(iso);
    const info = await isoBootInfo(iso);
    const cat = bytes.subarray(info.catalogLba! * 2048, info.catalogLba! * 2048 + 96);
    expect(cat[0]).toBe(0x01); // validation entry header id
    expect(cat[1]).toBe(0x00); // platform x86 (BIOS)
    expect(cat[32]).toBe(0x88); // initial entry: bootable
    expect(cat.readUInt16LE(32 + 6)).toBe(8); // sector count
    expect(cat[64] === 0x90 || cat[64] === 0x91).toBe(true); // section header
    expect(cat[65]).toBe(0xef); // platform EFI
    expect(info.volumeId).toBe('MSU_TEST_X64');
    expect(info.catalogPath).toBeUndefined(); // hidden, as on Windows media
    expect(info.entries.map((e) => [e.n, e.platform, e.bootable, e.emulation, e.loadSize, e.path])).toEqual([
      [1, 'BIOS', true, 'none', 8, '/boot/etfsboot.com'],
      [2, 'UEFI', true, 'none', 2880, '/efi/microsoft/boot/efisys.bin'],
    ]);
    expect(info.systemArea).toEqual([]);
  });

  it('isoList returns paths with Joliet names and sizes', async () => {
    const list = await isoList(iso);
    expect(list).toEqual([
      { path: '/boot', type: 'dir', size: 0 },
      { path: '/boot/etfsboot.com', type: 'file', size: 4096 },
      { path: '/efi', type: 'dir', size: 0 },
      { path: '/efi/microsoft', type: 'dir', size: 0 },
      { path: '/efi/microsoft/boot', type: 'dir', size: 0 },
      { path: '/efi/microsoft/boot/efisys.bin', type: 'file', size: 1474560 },
      { path: '/setup.exe', type: 'file', size: 10000 },
      { path: '/sources', type: 'dir', size: 0 },
      { path: '/sources/a long name with spaces and ünïcode.txt', type: 'file', size: 5 },
    ]);
  });

  it.skipIf(!hasTool('7zz'))('Joliet names (what Windows reads) keep non-ASCII characters, checked with 7-Zip', () => {
    const out = execFileSync('7zz', ['l', '-slt', iso], { stdio: ['ignore', 'pipe', 'ignore'], env: { ...process.env, LC_ALL: 'C.UTF-8' } }).toString();
    const paths = out.split('\n').filter((l) => l.startsWith('Path = ')).map((l) => l.slice(7));
    expect(paths).toContain('sources/a long name with spaces and ünïcode.txt');
  });

  it('extract → rebuild with likeIso gives the same boot records', async () => {
    const out = path.join(dir, 'extracted');
    const files = await isoExtract(iso, out);
    expect(files).toEqual(['boot/etfsboot.com', 'efi/microsoft/boot/efisys.bin', 'setup.exe', 'sources/a long name with spaces and ünïcode.txt']);
    expect(await readFile(path.join(out, 'sources', 'a long name with spaces and ünïcode.txt'), 'utf8')).toBe('hello');
    expect((await readdir(out)).filter((n) => n.startsWith('.msu-tmp'))).toEqual([]);

    const again = path.join(dir, 'again.iso');
    const rebuilt = await isoRebuild(out, again, { likeIso: iso });
    const original = await isoBootInfo(iso);
    const strip = (i: typeof original) => i.entries.map(({ lba: _lba, ...rest }) => rest);
    expect(strip(rebuilt)).toEqual(strip(original));
    expect(rebuilt.volumeId).toBe('MSU_TEST_X64');
    expect(rebuilt.mkisofsBootArgs).toEqual(original.mkisofsBootArgs);
    expect((await readdir(dir)).filter((n) => n.startsWith('.msu-tmp'))).toEqual([]);
  });

  it('extracting over existing content: conflicts refused before anything is written, --overwrite replaces regular files only, no symlink followed', async () => {
    const out = path.join(dir, 'over');
    await mkdir(path.join(out, 'sources'), { recursive: true });
    await writeFile(path.join(out, 'setup.exe'), 'mine');
    await writeFile(path.join(out, 'sources', 'keep.txt'), 'keep');
    const r = await runCli('iso', 'extract', iso, out);
    expect(r.code).toBe(6);
    expect(r.stderr).toContain('1 path(s) to extract already exist in the target: setup.exe (a file)');
    expect((await readdir(out)).sort()).toEqual(['setup.exe', 'sources']);
    expect(await readFile(path.join(out, 'setup.exe'), 'utf8')).toBe('mine');
    const ok = await runCli('iso', 'extract', iso, out, '--overwrite');
    expect(ok.code).toBe(0);
    expect(await readFile(path.join(out, 'setup.exe'), 'utf8')).not.toBe('mine');
    expect(await readFile(path.join(out, 'sources', 'keep.txt'), 'utf8')).toBe('keep');
    expect((await readdir(out)).sort()).toEqual(['boot', 'efi', 'setup.exe', 'sources']);
    // a symlinked directory in the target: refused even with --overwrite, nothing lands outside
    const out2 = path.join(dir, 'over2'), outside = path.join(dir, 'outside');
    await mkdir(out2);
    await mkdir(outside);
    const { symlink } = await import('node:fs/promises');
    await symlink('../outside', path.join(out2, 'efi'));
    const s = await runCli('iso', 'extract', iso, out2, '--overwrite');
    expect(s.code).toBe(6);
    expect(s.stderr).toContain('efi (a symbolic link)');
    expect(await readdir(outside)).toEqual([]);
    expect(await readdir(out2)).toEqual(['efi']);
  });

  it('CLI: msu iso info / list / rebuild', async () => {
    const info = await runCli('iso', 'info', iso);
    expect(info.code).toBe(0);
    expect(info.stdout).toContain('boot 1     BIOS bootable emulation=none load-size=8');
    expect(info.stdout).toContain('boot 2     UEFI bootable emulation=none load-size=2880');
    const list = await runCli('iso', 'list', iso);
    expect(list.stdout.split('\n')).toContain('       10000  /setup.exe');
    const j = JSON.parse((await runCli('iso', 'info', iso, '--json')).stdout) as { volumeId: string };
    expect(j.volumeId).toBe('MSU_TEST_X64');
    const missing = await runCli('iso', 'rebuild', path.join(dir, 'media', 'sources'), path.join(dir, 'x.iso'));
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/BIOS boot image boot\/etfsboot\.com not found/);
    const both = await runCli('iso', 'rebuild', path.join(dir, 'extracted'), path.join(dir, 'y.iso'), '--like', iso, '--efi-boot', 'x.bin');
    expect(both.code).toBe(2);
    expect(both.stderr).toContain(`--like copies the boot setup of ${iso}; drop --efi-boot`);
    expect(existsSync(path.join(dir, 'y.iso'))).toBe(false);
    // an OUT that exists is left alone unless --overwrite, refused before the build starts
    const mine = path.join(dir, 'mine.iso');
    writeFileSync(mine, 'USER ISO');
    const kept = await runCli('iso', 'rebuild', path.join(dir, 'extracted'), mine, '--like', iso);
    expect([kept.code, kept.stderr]).toEqual([6, `msu: ${mine}: already exists; nothing was written (pass --overwrite to replace it)\n`]);
    expect(readFileSync(mine, 'utf8')).toBe('USER ISO');
    const replaced = await runCli('iso', 'rebuild', path.join(dir, 'extracted'), mine, '--like', iso, '--overwrite');
    expect(replaced.code).toBe(0);
    expect(JSON.parse((await runCli('iso', 'info', mine, '--json')).stdout).volumeId).toBe('MSU_TEST_X64');
    const ex = await runCli('iso', 'extract', iso, path.join(dir, 'cli-extracted'), '--json');
    expect(ex.code).toBe(0);
    expect(JSON.parse(ex.stdout)).toEqual({ files: ['boot/etfsboot.com', 'efi/microsoft/boot/efisys.bin', 'setup.exe', 'sources/a long name with spaces and ünïcode.txt'] });
  });

  it('names with control characters (Rock Ridge) are listed whole: escaped in text, real in --json and by isoList', async () => {
    const media = path.join(dir, 'ctl-media');
    await mkdir(media, { recursive: true });
    const names = ['a\x1b[31mb.txt', 'two\nlines.txt', 'back\\slash.txt', 'ünï.txt'];
    for (const n of names) await writeFile(path.join(media, n), n);
    const ctl = path.join(dir, 'ctl.iso');
    execFileSync('xorriso', ['-as', 'mkisofs', '-R', '-o', ctl, media], { stdio: 'ignore' });
    const want = names.map((n) => `/${n}`).sort();
    expect((await isoList(ctl)).map((e) => e.path)).toEqual(want);
    const text = await runCli('iso', 'list', ctl);
    expect(text.code).toBe(0);
    expect(text.stdout.split('\n').filter(Boolean).map((l) => l.slice(14))).toEqual(['/a\\x1b[31mb.txt', '/back\\slash.txt', '/two\\x0alines.txt', '/ünï.txt']);
    expect(JSON.parse((await runCli('iso', 'list', ctl, '--json')).stdout).map((e: { path: string }) => e.path)).toEqual(want);
  });

  it('garbage input is a FormatError naming the file; missing boot files a UsageError; nothing partial is left', async () => {
    const junk = path.join(dir, 'junk.iso');
    await writeFile(junk, Buffer.alloc(100000, 0x5a));
    const e = await isoList(junk).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(FormatError);
    expect((e as FormatError).file).toBe(junk);
    expect((e as FormatError).message).toBe('not an ISO 9660 image: no "CD001" volume descriptor at byte 32768');
    await writeFile(path.join(dir, 'tiny.iso'), 'x');
    await expect(isoBootInfo(path.join(dir, 'tiny.iso'))).rejects.toMatchObject({ code: 'E_TRUNCATED' });
    const out = path.join(dir, 'junk-out');
    await expect(isoExtract(junk, out)).rejects.toBeInstanceOf(FormatError);
    expect(existsSync(out)).toBe(false);
    await expect(isoRebuild(path.join(src, 'sources'), path.join(dir, 'nob.iso'))).rejects.toBeInstanceOf(UsageError);
  });
});

describe.skipIf(!HAVE || !hasTool('wimlib-imagex'))('isoRebuild --split-wim', () => {
  it('puts install.swm parts in place of an install.wim larger than the part size, leaves the tree and no temp files', async () => {
    const dir = await tempDir('msu-isosplit-');
    try {
      const media = path.join(dir, 'media');
      const payload = path.join(dir, 'payload');
      await mkdir(path.join(media, 'boot'), { recursive: true });
      await mkdir(path.join(media, 'efi', 'microsoft', 'boot'), { recursive: true });
      await mkdir(path.join(media, 'sources'), { recursive: true });
      await mkdir(payload, { recursive: true });
      await writeFile(path.join(media, 'boot', 'etfsboot.com'), Buffer.alloc(4096, 0xeb));
      await writeFile(path.join(media, 'efi', 'microsoft', 'boot', 'efisys.bin'), Buffer.alloc(1474560, 0));
      for (let i = 0; i < 3; i++) await writeFile(path.join(payload, `f${i}.bin`), seededBytes(1_200_000, 2000 + i));
      const wim = path.join(media, 'sources', 'install.wim');
      execFileSync('wimlib-imagex', ['capture', payload, wim, 'Test', '--compress=none', '--no-acls'], { stdio: 'ignore' });
      const before = await readFile(wim);

      const out = path.join(dir, 'out', 'split.iso');
      await mkdir(path.dirname(out));
      const info = await isoRebuild(media, out, { splitWimMiB: 1 });
      expect(info.entries.map((e) => e.platform)).toEqual(['BIOS', 'UEFI']);
      const files = (await isoList(out)).filter((e) => e.type === 'file').map((e) => e.path).sort();
      const swm = files.filter((f) => f.startsWith('/sources/'));
      expect(swm.length).toBeGreaterThanOrEqual(3);
      expect(swm).toEqual(['/sources/install.swm', ...swm.slice(1).map((_, k) => `/sources/install${k + 2}.swm`)].sort());
      expect(files).not.toContain('/sources/install.wim');
      // the tree is untouched, and nothing is left beside the output
      expect(Buffer.compare(await readFile(wim), before)).toBe(0);
      expect(await readdir(path.dirname(out))).toEqual(['split.iso']);
      // the parts join back into the same image (wimlib reads the split set)
      const x = path.join(dir, 'x');
      await isoExtract(out, x);
      const parts = (await readdir(path.join(x, 'sources'))).sort((a, b) => a.length - b.length || (a < b ? -1 : 1)).map((f) => path.join(x, 'sources', f));
      const joined = path.join(dir, 'joined.wim');
      execFileSync('wimlib-imagex', ['join', joined, ...parts], { stdio: 'ignore' });
      const dirOf = (w: string) => execFileSync('wimlib-imagex', ['dir', w, '1'], { encoding: 'utf8' });
      expect(dirOf(joined)).toBe(dirOf(wim));
      execFileSync('wimlib-imagex', ['verify', joined], { stdio: 'ignore' });

      const bad = await runCli('iso', 'rebuild', media, path.join(dir, 'out', 'bad.iso'), '--split-wim', '0');
      expect(bad.code).toBe(2);
      expect(bad.stderr).toContain('--split-wim "0": expected a part size in MiB, 1..4095');

      // below the part size nothing is split
      const small = path.join(dir, 'out', 'small.iso');
      await isoRebuild(media, small, { splitWimMiB: 100 });
      expect((await isoList(small)).map((e) => e.path)).toContain('/sources/install.wim');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }, 60_000);
});

describe('largeInstallWim', () => {
  it('finds sources/install.wim (any case) only from 4 GiB on (a sparse file stands in)', async () => {
    const dir = await tempDir('msu-isolarge-');
    try {
      await mkdir(path.join(dir, 'Sources'), { recursive: true });
      const f = path.join(dir, 'Sources', 'Install.wim');
      await writeFile(f, '');
      await truncate(f, ISO_SINGLE_EXTENT_MAX);
      expect(await largeInstallWim(dir)).toBeUndefined();
      await truncate(f, ISO_SINGLE_EXTENT_MAX + 1);
      expect(await largeInstallWim(dir)).toEqual({ path: 'Sources/Install.wim', size: 4 * 1024 ** 3 });
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
