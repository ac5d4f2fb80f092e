import { lstat, mkdir, open, readdir, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { FormatError, IoError, MsuError, TruncatedError, UnsupportedError, UsageError, ioError } from '../errors.js';
import { runTool, ToolRunError, tailLines } from '../util/exec.js';
import { refuseTakenOutput, StagedDir, writeThroughTemp } from '../util/fsout.js';
import { listFiles } from '../util/walk.js';
import { wimSplit } from '../wim/wimlib.js';

/**
 * ISO 9660 images through xorriso (Debian package `xorriso`): list, extract, read the
 * El Torito boot catalog, and rebuild a Windows-style BIOS + UEFI bootable ISO.
 *
 * About UDF: Windows media are ISO 9660 + UDF bridge images. xorriso does not write UDF.
 * Rebuilt images use ISO 9660 level 3 (files > 4 GiB are stored as multi-extent files) plus
 * Joliet for long Unicode names; firmware only needs the El Torito catalog, and Windows
 * reads ISO 9660/Joliet media through its CDFS driver. See docs/wim.md for what was checked.
 */

export const XORRISO = 'xorriso';

export interface IsoEntry {
  /** Absolute path in the ISO, `/`-separated. */
  path: string;
  type: 'file' | 'dir' | 'other';
  size: number;
}

export interface ElToritoEntry {
  /** 1-based position in the boot catalog. */
  n: number;
  /** `BIOS` (0x00), `UEFI` (0xEF), `PPC`, `Mac`, or the hex id. */
  platform: string;
  bootable: boolean;
  /** `none` (no emulation), `fd1.2`, `fd1.4`, `fd2.8`, `hd`. */
  emulation: string;
  loadSegment: number;
  /** Load size in 512-byte sectors, as the catalog states it. */
  loadSize: number;
  /** Block address (2048-byte) of the boot image. */
  lba: number;
  /** Path of the boot image in the ISO tree, when a file there starts at that block. */
  path?: string;
  /** Size in 2048-byte blocks xorriso gives for an image that is not a file in the tree (hidden). */
  blocks?: number;
  /** The image carries an El Torito boot info table (mkisofs -boot-info-table) at byte 8. */
  bootInfoTable?: boolean;
  /** The image carries GRUB 2's boot info (mkisofs --grub2-boot-info) at byte 2548. */
  grub2BootInfo?: boolean;
}

export interface IsoBootInfo {
  file: string;
  volumeId?: string;
  /** Path of the boot catalog in the tree; absent when hidden. */
  catalogPath?: string;
  catalogLba?: number;
  entries: ElToritoEntry[];
  /** The El Torito part of `-report_el_torito as_mkisofs`: options that recreate the boot setup. */
  mkisofsBootArgs: string[];
  /** `-report_system_area plain` lines (MBR, GPT, …); empty when there is no system area. */
  systemArea: string[];
}

export interface IsoProgress {
  percent?: number;
  line: string;
}

export interface IsoRunOptions {
  onProgress?: (p: IsoProgress) => void;
  timeoutMs?: number;
}

async function xorriso(args: string[], file: string, opts: IsoRunOptions = {}, env?: Record<string, string>): Promise<{ stdout: string; stderr: string }> {
  const onProgress = opts.onProgress;
  try {
    return await runTool(XORRISO, args, {
      file,
      ...(env ? { env } : {}),
      ...(opts.timeoutMs !== undefined ? { timeoutMs: opts.timeoutMs } : {}),
      ...(onProgress
        ? {
            onLine: (line: string, stream: string) => {
              if (stream !== 'stderr' || !/UPDATE/.test(line)) return;
              const m = /([0-9]+(?:\.[0-9]+)?)%/.exec(line);
              onProgress({ ...(m ? { percent: Number(m[1]) } : {}), line: line.replace(/^xorriso : UPDATE :\s*/, '').trim() });
            },
          }
        : {}),
    });
  } catch (err) {
    if (err instanceof ToolRunError && err.code === 'E_TOOL_FAILED') {
      const problems = err.stderr
        .split(/\r?\n/)
        .filter((l) => /: (FAILURE|SORRY|FATAL|ABORT|MISHAP)\s*:/.test(l))
        .map((l) => l.replace(/^xorriso\s*:\s*/, '').trim());
      const msg = [...new Set(problems)].join(' | ') || tailLines(err.stderr, 4);
      // xorriso's own words, translated into what the user can act on (docs/cli.md exit codes)
      if (/Cannot read all bytes from ISO file|larger than readable size|Premature end of (file|input)/i.test(msg + err.stderr)) {
        return Promise.reject(new TruncatedError(`the ISO image is truncated or unreadable part-way (xorriso: ${msg})`, { file, cause: err }));
      }
      if (/Failed to open device|failure with writing|Cannot (create|open|write) .*(disk|file)|Permission denied|No space left|Read-only file system|Not a directory/i.test(msg)) {
        return Promise.reject(new IoError('E_IO_WRITE', `cannot write the output (xorriso: ${msg})`, { file, cause: err }));
      }
      if (/not a valid ISO|Cannot find|no ISO 9660|NOT READABLE|Failed to read|not recognized|unsuitable|No ISO/i.test(msg)) {
        return Promise.reject(new FormatError('E_ISO_INVALID', `not a readable ISO 9660 image: ${msg}`, { file, cause: err }));
      }
      return Promise.reject(new ToolRunError('E_TOOL_FAILED', `xorriso failed: ${msg} (exit code ${err.exitCode})`, XORRISO, err.exitCode, err.stderr, file));
    }
    throw err;
  }
}

/** ISO 9660: volume descriptors start at sector 16 (byte 32768) with type byte then "CD001". */
const VD_OFFSET = 16 * 2048;

/** The file exists and starts like an ISO 9660 image; xorriso itself would treat junk as a blank image. */
async function requireFile(file: string): Promise<number> {
  let size: number;
  const vd = Buffer.alloc(2048);
  const head = vd.subarray(0, 6);
  try {
    const st = await stat(file);
    if (!st.isFile()) throw new IoError('E_IO_NOT_FILE', 'not a regular file', { file });
    size = st.size;
    if (size >= VD_OFFSET + 6) {
      const fh = await open(file, 'r');
      try {
        await fh.read(vd, 0, 2048, VD_OFFSET);
      } finally {
        await fh.close();
      }
    }
  } catch (err) {
    throw ioError(err, file);
  }
  if (size < VD_OFFSET + 2048) throw new TruncatedError(`too small for an ISO 9660 image (${size} bytes; the first volume descriptor ends at byte ${VD_OFFSET + 2048})`, { file });
  if (head.subarray(1, 6).toString('latin1') !== 'CD001') {
    throw new FormatError('E_ISO_INVALID', `not an ISO 9660 image: no "CD001" volume descriptor at byte ${VD_OFFSET}`, { file, where: `byte ${VD_OFFSET + 1}` });
  }
  // Volume Space Size (ECMA-119 8.4.8, both-endian at descriptor bytes 80-87): a shorter file lost its tail,
  // which xorriso only notices (with a warning) when it reads a file stored there.
  if (head[0] === 1) {
    const blocks = vd.readUInt32LE(80);
    if (size < blocks * 2048) throw new TruncatedError(`the ISO image is truncated: its volume is ${blocks * 2048} bytes, the file ${size}`, { file });
  }
  return size;
}

/** Undo xorriso's shell-style quoting: `'it'"'"'s'` → `it's`. */
export function shUnquote(s: string): string {
  let out = '';
  let i = 0;
  while (i < s.length) {
    const c = s[i]!;
    if (c === "'" || c === '"') {
      const end = s.indexOf(c, i + 1);
      if (end < 0) return out + s.slice(i + 1);
      out += s.slice(i + 1, end);
      i = end + 1;
    } else {
      out += c;
      i++;
    }
  }
  return out;
}

const BACKSLASH_CODES: Record<string, number> = { a: 7, b: 8, e: 27, f: 12, n: 10, r: 13, t: 9, v: 11, '\\': 92 };

/**
 * Undo `-backslash_codes encode_output` in a name: xorriso then writes control characters, bytes
 * over 0x7E and the backslash as `\e`, `\n`, `\303`, `\\`…, so a name holding a line feed stays on
 * its line. The bytes are the name's, read as UTF-8. Pure.
 */
export function decodeBackslashCodes(s: string): string {
  if (!s.includes('\\')) return s;
  const bytes: number[] = [];
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c !== 92 || i + 1 === s.length) {
      // the output is ASCII once encoded; anything else is kept as its UTF-8 bytes
      if (c < 0x80) bytes.push(c);
      else bytes.push(...Buffer.from(s[i]!));
      continue;
    }
    const next = s[i + 1]!;
    const octal = /^[0-7]{3}/.exec(s.slice(i + 1, i + 4));
    const hex = next === 'x' ? /^[0-9a-fA-F]{2}/.exec(s.slice(i + 2, i + 4)) : null;
    if (octal) {
      bytes.push(parseInt(octal[0], 8) & 0xff);
      i += 3;
    } else if (hex) {
      bytes.push(parseInt(hex[0], 16));
      i += 3;
    } else if (next === 'c' && i + 2 < s.length) {
      bytes.push(s.charCodeAt(i + 2) & 0x1f);
      i += 2;
    } else if (BACKSLASH_CODES[next] !== undefined) {
      bytes.push(BACKSLASH_CODES[next]!);
      i += 1;
    } else {
      bytes.push(c);
    }
  }
  return Buffer.from(bytes).toString('utf8');
}

// `e` is the El Torito boot catalog when it is visible in the tree; `iso extract` writes it as a file.
const LSDL = /^([-dlcbpse])[-rwxsStT]{9}\s+\d+\s+\S+\s+\S+\s+(\d+)\s+\w{3}\s+\d+\s+\S+\s+(.+)$/;

/** Parse `-backslash_codes encode_output … -find / -exec lsdl` output. Pure. */
export function parseLsdl(out: string): IsoEntry[] {
  const entries: IsoEntry[] = [];
  for (const line of out.split('\n')) {
    const m = LSDL.exec(line);
    if (!m) continue;
    const p = decodeBackslashCodes(shUnquote(m[3]!));
    if (p === '/') continue;
    entries.push({ path: p, type: m[1] === 'd' ? 'dir' : m[1] === '-' || m[1] === 'e' ? 'file' : 'other', size: m[1] === 'd' ? 0 : Number(m[2]) });
  }
  entries.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  return entries;
}

/** Every file and directory in the ISO (Joliet/Rock Ridge names when present), sorted by path. */
export async function isoList(iso: string, opts: IsoRunOptions = {}): Promise<IsoEntry[]> {
  await requireFile(iso);
  // encoded, a name with a line feed (Rock Ridge allows one) is still one line of the listing
  const r = await xorriso(['-backslash_codes', 'encode_output', '-indev', iso, '-find', '/', '-exec', 'lsdl'], iso, opts);
  return parseLsdl(r.stdout);
}

/** Extract the whole ISO tree under destDir (staged: nothing is left behind on failure). Returns the files written. */
export async function isoExtract(iso: string, destDir: string, opts: IsoRunOptions & { overwrite?: boolean } = {}): Promise<string[]> {
  await requireFile(iso);
  const staged = await StagedDir.create(destDir, { overwrite: opts.overwrite });
  try {
    // xorriso refuses to extract into an existing directory root; give it a fresh one.
    const into = path.join(staged.staging, 'root');
    await xorriso(['-osirrox', 'on', '-indev', iso, '-extract', '/', into], iso, opts);
    // Rock Ridge images may hold symbolic links: listed, not followed
    const files = await listFiles(into, destDir, { links: true });
    await staged.commit('root');
    return files;
  } catch (err) {
    await staged.abort();
    throw err;
  }
}

const PLATFORMS: Record<string, string> = { BIOS: 'BIOS', UEFI: 'UEFI', PPC: 'PPC', Mac: 'Mac' };

/** Options of `-report_el_torito as_mkisofs` that describe the boot setup (not dates, names or volume ids). */
const BOOT_OPTS_WITH_ARG = new Set(['-c', '-b', '-e', '-boot-load-size', '-boot-load-seg', '-eltorito-platform', '-eltorito-id', '-eltorito-selcrit', '--efi-boot', '-eltorito-boot', '-eltorito-catalog']);
const BOOT_FLAGS = new Set(['-no-emul-boot', '-eltorito-alt-boot', '-boot-info-table', '--grub2-boot-info', '-hard-disk-boot', '-no-boot', '--boot-catalog-hide']);

/** Split `-report_el_torito as_mkisofs` lines into arguments, keeping the boot ones. Pure. */
export function bootArgsFromMkisofs(lines: string[]): string[] {
  const out: string[] = [];
  for (const raw of lines) {
    const line = raw.trim();
    const m = /^(\S+)(?:\s+(.*))?$/.exec(line);
    if (!m) continue;
    const opt = m[1]!;
    if (BOOT_FLAGS.has(opt)) out.push(opt);
    else if (BOOT_OPTS_WITH_ARG.has(opt) && m[2] !== undefined) out.push(opt, shUnquote(m[2]));
  }
  return out;
}

/** Parse the combined `-report_el_torito plain/as_mkisofs` and `-report_system_area plain` output. Pure. */
export function parseBootReport(out: string, file: string): IsoBootInfo {
  const info: IsoBootInfo = { file, entries: [], mkisofsBootArgs: [], systemArea: [] };
  const mkisofs: string[] = [];
  const paths = new Map<number, string>();
  const blocks = new Map<number, number>();
  const imgOpts = new Map<number, string[]>();
  for (const line of out.split('\n')) {
    let m: RegExpExecArray | null;
    if ((m = /^El Torito catalog\s*:\s*(\d+)/.exec(line))) info.catalogLba = Number(m[1]);
    else if ((m = /^El Torito cat path\s*:\s*(.+)$/.exec(line))) info.catalogPath = m[1]!.trim();
    else if ((m = /^El Torito boot img\s*:\s*(\d+)\s+(\S+)\s+([yn])\s+(\S+)\s+(0x[0-9a-fA-F]+)\s+(0x[0-9a-fA-F]+)\s+(\d+)\s+(\d+)/.exec(line))) {
      info.entries.push({
        n: Number(m[1]),
        platform: PLATFORMS[m[2]!] ?? m[2]!,
        bootable: m[3] === 'y',
        emulation: m[4]!,
        loadSegment: Number.parseInt(m[5]!.slice(2), 16),
        loadSize: Number(m[7]),
        lba: Number(m[8]),
      });
    } else if ((m = /^El Torito img path\s*:\s*(\d+)\s+(.+)$/.exec(line))) paths.set(Number(m[1]), m[2]!.trim());
    else if ((m = /^El Torito img blks\s*:\s*(\d+)\s+(\d+)/.exec(line))) blocks.set(Number(m[1]), Number(m[2]));
    else if ((m = /^El Torito img opts\s*:\s*(\d+)\s+(.+)$/.exec(line))) imgOpts.set(Number(m[1]), m[2]!.trim().split(/\s+/));
    else if ((m = /^-V\s+(.+)$/.exec(line))) info.volumeId = shUnquote(m[1]!);
    else if (/^--?[a-zA-Z]/.test(line)) mkisofs.push(line);
    else if (/^(System area|MBR|GPT|APM|PReP|CHRP|MIPS|SUN|HP-PA|DEC|ISO image size|Partition offset|CHS|Partition)/.test(line)) info.systemArea.push(line.trimEnd());
    else if ((m = /^Volume id\s*:\s*(.+)$/.exec(line)) && info.volumeId === undefined) info.volumeId = shUnquote(m[1]!.trim());
  }
  for (const e of info.entries) {
    const p = paths.get(e.n);
    if (p) e.path = p;
    const b = blocks.get(e.n);
    if (b !== undefined) e.blocks = b;
    const o = imgOpts.get(e.n) ?? [];
    if (o.includes('boot-info-table')) e.bootInfoTable = true;
    if (o.includes('grub2-boot-info')) e.grub2BootInfo = true;
  }
  info.mkisofsBootArgs = bootArgsFromMkisofs(mkisofs);
  return info;
}

/** The El Torito boot catalog (and any system area) of an ISO. */
export async function isoBootInfo(iso: string, opts: IsoRunOptions = {}): Promise<IsoBootInfo> {
  await requireFile(iso);
  // A boot image that is not a file in the tree (hidden, or an appended partition) makes the
  // as_mkisofs report a SORRY event; only FAILURE and worse are errors here.
  const r = await xorriso(
    ['-return_with', 'FAILURE', '32', '-indev', iso, '-report_el_torito', 'plain', '-report_el_torito', 'as_mkisofs', '-report_system_area', 'plain'],
    iso,
    opts,
  );
  return parseBootReport(r.stdout + '\n' + r.stderr.split('\n').filter((l) => /^Volume id/.test(l)).join('\n'), iso);
}

/** Find `rel` under `root` ignoring case (Windows media mix `EFI` and `efi`). */
async function findCaseInsensitive(root: string, rel: string): Promise<string | undefined> {
  let dir = root;
  const parts = rel.replace(/\\/g, '/').split('/').filter((p) => p !== '' && p !== '.');
  const found: string[] = [];
  for (const part of parts) {
    if (part === '..') return undefined;
    let names: string[];
    try {
      names = await readdir(dir);
    } catch {
      return undefined;
    }
    const hit = names.find((n) => n === part) ?? names.find((n) => n.toLowerCase() === part.toLowerCase());
    if (!hit) return undefined;
    found.push(hit);
    dir = path.join(dir, hit);
  }
  return found.join('/');
}

export interface IsoRebuildOptions extends IsoRunOptions {
  /** Volume identifier (ISO 9660: up to 32 d-characters; Windows media use e.g. CCCOMA_X64FRE_EN-US_DV9). */
  volid?: string;
  /** BIOS no-emulation boot image, relative to srcDir. Default `boot/etfsboot.com`. */
  biosBoot?: string;
  /** UEFI boot image (a FAT image), relative to srcDir. Default `efi/microsoft/boot/efisys.bin`. */
  efiBoot?: string;
  /** Copy the boot catalog setup (and volume id, unless `volid` is given) of this ISO. */
  likeIso?: string;
  /**
   * Split `sources/install.wim` into `install.swm`, `install2.swm`, … parts of at most this
   * many MiB when it is larger (the tree is not changed: the parts go to a temp directory
   * beside the output and are grafted in). Windows Setup installs from split parts, so the
   * ISO needs no file over 4 GiB and no UDF.
   */
  splitWimMiB?: number;
  /** Told about problems that do not stop the rebuild (e.g. a split part over the part size). */
  onWarning?: (message: string) => void;
  /** Replace an existing `outIso` (default: refuse it, before the build starts and again at the end). */
  overwrite?: boolean;
}

/** ISO 9660 without UDF: files from 4 GiB on need several extents. */
export const ISO_SINGLE_EXTENT_MAX = 4 * 1024 ** 3 - 1;

/** Microsoft's part size for install.wim on FAT32 media (`Dism /Split-Image /FileSize:3800`). */
export const DEFAULT_SPLIT_MIB = 3800;

/** `sources/install.wim` of a media tree when it is too large for one ISO 9660 extent, with its size. */
export async function largeInstallWim(srcDir: string): Promise<{ path: string; size: number } | undefined> {
  const wim = await findCaseInsensitive(srcDir, 'sources/install.wim');
  if (!wim) return undefined;
  const size = (await stat(path.join(srcDir, wim))).size;
  return size > ISO_SINGLE_EXTENT_MAX ? { path: wim, size } : undefined;
}

/** xorriso reads `--interval:imported_iso:` from the ISO being loaded; in mkisofs mode point it at the source file instead. */
function portableBootArgs(args: string[], likeIso: string): string[] {
  return args.map((a) => {
    const m = /^--interval:imported_iso:([^:]*):([^:]*):\s*$/.exec(a);
    return m ? `--interval:local_fs:${m[1]}:${m[2]}:${path.resolve(likeIso)}` : a;
  });
}

/** An El Torito boot info table (mkisofs -boot-info-table): LBAs of the PVD and of the image, its length. */
export interface BootInfoTable {
  pvdLba: number;
  fileLba: number;
  length: number;
}

/**
 * The boot info table an image carries from an earlier ISO, if any. Layout (El Torito as
 * written by mkisofs): bytes 8..23 are the PVD LBA (16), the image's own LBA, its length and
 * the 32-bit sum of the little-endian words from byte 64 to its end; 24..63 are zero. A
 * fresh image (zeros there) has none. Pure.
 */
export function readBootInfoTable(image: Uint8Array): BootInfoTable | undefined {
  if (image.length < 64) return undefined;
  const v = new DataView(image.buffer, image.byteOffset, image.byteLength);
  const pvdLba = v.getUint32(8, true), fileLba = v.getUint32(12, true), length = v.getUint32(16, true), sum = v.getUint32(20, true);
  if (pvdLba !== 16 || length < 64 || length > image.length || length % 4 !== 0) return undefined;
  for (let i = 24; i < 64; i++) if (image[i] !== 0) return undefined;
  let calc = 0;
  for (let i = 64; i + 4 <= length; i += 4) calc = (calc + v.getUint32(i, true)) >>> 0;
  return calc === sum ? { pvdLba, fileLba, length } : undefined;
}

/** GRUB 2's El Torito image also records its 512-byte sector address + 5 at byte 2548 (--grub2-boot-info). Pure. */
export function hasGrub2BootInfo(image: Uint8Array, fileLba: number): boolean {
  if (image.length < 2556) return false;
  const v = new DataView(image.buffer, image.byteOffset, image.byteLength);
  return v.getBigUint64(2548, true) === BigInt(fileLba) * 4n + 5n;
}

/** mkisofs flags that rewrite the boot info a reused image carries, so it points at its new place. */
function bootInfoFlags(image: Uint8Array): string[] {
  const t = readBootInfoTable(image);
  if (!t) return [];
  return ['-boot-info-table', ...(hasGrub2BootInfo(image, t.fileLba) ? ['--grub2-boot-info'] : [])];
}

async function readRange(file: string, offset: number, length: number): Promise<Buffer> {
  const buf = Buffer.alloc(length);
  const fh = await open(file, 'r');
  try {
    const { bytesRead } = await fh.read(buf, 0, length, offset);
    return buf.subarray(0, bytesRead);
  } finally {
    await fh.close();
  }
}

/** `YYYYMMDDhhmmss00` (UTC), the date format of ISO 9660 volume descriptors and xorriso's date options. */
function isoDate(epochSeconds: number): string {
  const d = new Date(epochSeconds * 1000);
  const p = (n: number, w = 2): string => String(n).padStart(w, '0');
  return `${p(d.getUTCFullYear(), 4)}${p(d.getUTCMonth() + 1)}${p(d.getUTCDate())}${p(d.getUTCHours())}${p(d.getUTCMinutes())}${p(d.getUTCSeconds())}00`;
}

/**
 * The one date a rebuild stamps on the volume and on every file and directory: SOURCE_DATE_EPOCH
 * when set, else the newest modification time of a regular file in the tree (extraction keeps
 * file times, so re-extracting the same ISO gives the same date; directory times, which
 * extraction does not keep, are not used).
 */
export async function rebuildEpoch(srcDir: string, env: NodeJS.ProcessEnv = process.env): Promise<number> {
  const sde = env['SOURCE_DATE_EPOCH'];
  if (sde !== undefined && sde !== '') {
    if (!/^\d{1,11}$/.test(sde)) throw new UsageError(`SOURCE_DATE_EPOCH must be whole seconds since 1970 (got ${JSON.stringify(sde)})`);
    return Number(sde);
  }
  let newest = 0;
  for (const rel of await listFiles(srcDir, srcDir)) {
    try {
      const st = await lstat(path.join(srcDir, rel));
      if (st.isFile()) newest = Math.max(newest, Math.floor(st.mtimeMs / 1000));
    } catch (err) {
      throw ioError(err, path.join(srcDir, rel));
    }
  }
  return newest;
}

/**
 * El Torito options that replay `like`'s boot entries one by one, for when some image is not a
 * file in the tree (hidden, or an appended partition; xorriso's as_mkisofs report leaves those
 * out). Such an image is copied out of the source ISO into `tmpDir` and grafted in hidden.
 */
async function replayBootArgs(like: IsoBootInfo, likeIso: string, srcDir: string, tmpDir: string): Promise<{ args: string[]; grafts: string[]; hide: string[] }> {
  const args: string[] = [];
  const grafts: string[] = [];
  const hide: string[] = [];
  for (const [i, e] of like.entries.entries()) {
    if (e.platform !== 'BIOS' && e.platform !== 'UEFI') {
      throw new UnsupportedError('E_ISO_BOOT_PLATFORM', `El Torito entry ${e.n} is for platform ${e.platform}; only BIOS and UEFI entries can be replayed`, { file: likeIso });
    }
    if (i > 0) args.push('-eltorito-alt-boot');
    let isoPath: string;
    if (e.path) {
      const rel = await findCaseInsensitive(srcDir, e.path);
      if (!rel) throw new UsageError(`boot image ${e.path} of the source ISO is not in the directory`, { file: srcDir });
      isoPath = rel;
      if (e.bootInfoTable) args.push('-boot-info-table');
      if (e.grub2BootInfo) args.push('--grub2-boot-info');
    } else {
      // xorriso gives the size of a hidden image in blocks; without it, the load size is all we know.
      const bytes = e.blocks !== undefined ? e.blocks * 2048 : Math.ceil((e.loadSize * 512) / 2048) * 2048;
      const image = await readRange(likeIso, e.lba * 2048, bytes);
      if (image.length === 0) throw new TruncatedError(`El Torito entry ${e.n} points past the end of the image (block ${e.lba})`, { file: likeIso });
      const disk = path.join(tmpDir, `boot-${e.n}.img`);
      await writeFile(disk, image);
      isoPath = `msu-boot-${e.n}.img`;
      grafts.push(`/${isoPath}=${disk}`);
      hide.push('-hide', disk, '-hide-joliet', disk);
      args.push(...bootInfoFlags(image));
    }
    args.push(e.platform === 'UEFI' ? '-e' : '-b', isoPath);
    if (e.emulation === 'none') args.push('-no-emul-boot', '-boot-load-size', String(e.loadSize));
    else if (e.emulation === 'hd') args.push('-hard-disk-boot');
    if (e.loadSegment !== 0) args.push('-boot-load-seg', String(e.loadSegment));
    if (!e.bootable) args.push('-no-boot');
  }
  return { args, grafts, hide };
}

/**
 * Build a BIOS + UEFI bootable ISO from directory `srcDir` into `outIso` (temp name, then rename):
 * El Torito no-emulation entries, BIOS `etfsboot.com` with load size 8 (4 sectors of 512 bytes
 * would be too few for it; Microsoft's oscdimg uses 8), then the UEFI platform (0xEF) entry for
 * `efisys.bin`; ISO 9660 level 3 (multi-extent files > 4 GiB) + Joliet; hidden boot catalog.
 */
export async function isoRebuild(srcDir: string, outIso: string, opts: IsoRebuildOptions = {}): Promise<IsoBootInfo> {
  try {
    if (!(await stat(srcDir)).isDirectory()) throw new IoError('E_IO_NOT_DIR', 'not a directory', { file: srcDir });
  } catch (err) {
    throw ioError(err, srcDir);
  }
  if (opts.volid !== undefined && !/^[\x20-\x7e]{1,32}$/.test(opts.volid)) {
    throw new UsageError(`volume id must be 1 to 32 printable ASCII characters: ${JSON.stringify(opts.volid)}`, { file: outIso });
  }
  const noClobber = { replace: opts.overwrite === true, hint: 'pass --overwrite to replace it' };
  // refused before minutes of work; the commit refuses a name taken meanwhile too
  await refuseTakenOutput(outIso, noClobber);
  const epoch = await rebuildEpoch(srcDir);
  const splitDir = path.join(path.dirname(outIso), `.msu-tmp-${process.pid}-swm`);
  const bootDir = path.join(path.dirname(outIso), `.msu-tmp-${process.pid}-boot`);
  try {
    // xorriso writes a temp name beside the ISO, renamed over it only on success
    await writeThroughTemp(outIso, async (tmp) => {
      let bootArgs: string[];
      let volid = opts.volid;
      // grafted files (`/iso/path=disk path`) and -hide options for boot images copied out of --like
      const grafts: string[] = [];
      const hidden: string[] = [];
      if (opts.likeIso) {
        const like = await isoBootInfo(opts.likeIso, opts);
        if (like.entries.length === 0) throw new FormatError('E_ISO_NO_BOOT', 'has no El Torito boot catalog to copy', { file: opts.likeIso });
        if (like.entries.some((e) => !e.path)) {
          await mkdir(bootDir, { recursive: true });
          const r = await replayBootArgs(like, opts.likeIso, srcDir, bootDir);
          bootArgs = r.args;
          grafts.push(...r.grafts);
          hidden.push(...r.hide);
        } else {
          bootArgs = portableBootArgs(like.mkisofsBootArgs, opts.likeIso);
          for (let i = 0; i < bootArgs.length - 1; i++) {
            if ((bootArgs[i] === '-b' || bootArgs[i] === '-e') && bootArgs[i + 1]!.startsWith('/')) {
              const rel = await findCaseInsensitive(srcDir, bootArgs[i + 1]!);
              if (!rel) throw new UsageError(`boot image ${bootArgs[i + 1]} of the source ISO is not in the directory`, { file: srcDir });
              bootArgs[i + 1] = rel;
            }
          }
        }
        volid ??= like.volumeId;
      } else {
        const bios = await findCaseInsensitive(srcDir, opts.biosBoot ?? 'boot/etfsboot.com');
        const efi = await findCaseInsensitive(srcDir, opts.efiBoot ?? 'efi/microsoft/boot/efisys.bin');
        if (!bios) throw new UsageError(`BIOS boot image ${opts.biosBoot ?? 'boot/etfsboot.com'} not found in the directory`, { file: srcDir });
        if (!efi) throw new UsageError(`UEFI boot image ${opts.efiBoot ?? 'efi/microsoft/boot/efisys.bin'} not found in the directory`, { file: srcDir });
        // A BIOS image taken from another ISO (GRUB eltorito.img, isolinux.bin) carries that ISO's
        // boot info table; left as is, it points at the old block and the disc does not boot.
        let infoFlags: string[] = [];
        try {
          // No-emulation BIOS images are small (etfsboot 4 KiB, isolinux and GRUB some 10s of KiB).
          const biosSize = (await stat(path.join(srcDir, bios))).size;
          if (biosSize <= 4 * 1024 * 1024) infoFlags = bootInfoFlags(await readRange(path.join(srcDir, bios), 0, biosSize));
        } catch (err) {
          throw ioError(err, path.join(srcDir, bios));
        }
        bootArgs = ['-b', bios, '-no-emul-boot', '-boot-load-size', '8', ...infoFlags, '-eltorito-alt-boot', '-e', efi, '-no-emul-boot'];
      }
      if (!bootArgs.includes('--boot-catalog-hide')) bootArgs.push('--boot-catalog-hide');
      const catIdx = bootArgs.indexOf('-c');
      if (catIdx >= 0) bootArgs.splice(catIdx, 2);
      if (volid !== undefined && !/^[\x20-\x7e]{1,32}$/.test(volid)) {
        throw new UsageError(`volume id must be 1 to 32 printable ASCII characters: ${JSON.stringify(volid)}`, { file: outIso });
      }

      // An extracted ISO may carry the old boot catalog as a file; the new one replaces it.
      const exclude: string[] = [];
      for (const name of await readdir(srcDir)) {
        if (/^boot\.(catalog|cat)$/i.test(name)) exclude.push('-m', path.resolve(srcDir, name));
      }
      // install.wim over the limit: its split parts are grafted in its place
      const wim = opts.splitWimMiB !== undefined ? await findCaseInsensitive(srcDir, 'sources/install.wim') : undefined;
      if (wim && (await stat(path.join(srcDir, wim))).size > opts.splitWimMiB! * 1024 * 1024) {
        await mkdir(splitDir, { recursive: true });
        const parts = await wimSplit(path.join(srcDir, wim), path.join(splitDir, 'install.swm'), opts.splitWimMiB!, opts);
        exclude.push('-m', path.resolve(srcDir, wim));
        const limit = opts.splitWimMiB! * 1024 * 1024;
        for (const p of parts) {
          grafts.push(`/${path.posix.dirname(wim)}/${path.basename(p)}=${p}`);
          const size = (await stat(p)).size;
          // wimlib never splits one stored file: a file larger than the part size makes a larger part.
          if (size > limit) opts.onWarning?.(`${path.posix.dirname(wim)}/${path.basename(p)} is ${size} bytes, over the ${opts.splitWimMiB} MiB part size: it holds a file that wimlib cannot split`);
        }
      }
      // Reproducible by default: one date for the volume and every file and directory (the root
      // directory would otherwise take the extraction folder's time), and SOURCE_DATE_EPOCH for
      // whatever else xorriso derives from the clock.
      const date = isoDate(epoch);
      const args = [
        '-as', 'mkisofs',
        // Disk names are UTF-8 whatever the locale; Joliet gets them right as UTF-16.
        '-input-charset', 'UTF-8',
        '-iso-level', '3',
        '-J', '-joliet-long',
        `--modification-date=${date}`,
        '--set_all_file_dates', date,
        ...(volid !== undefined ? ['-V', volid] : []),
        ...exclude,
        ...hidden,
        '-c', 'boot.catalog',
        ...bootArgs,
        '-o', tmp,
        ...(grafts.length ? ['-graft-points', `/=${path.resolve(srcDir)}`, ...grafts] : [srcDir]),
      ];
      await xorriso(args, outIso, opts, { SOURCE_DATE_EPOCH: String(epoch) });
    }, noClobber);
  } finally {
    // an output directory that cannot hold files holds no split parts either: the error above says why
    await rm(splitDir, { recursive: true, force: true }).catch(() => undefined);
    await rm(bootDir, { recursive: true, force: true }).catch(() => undefined);
  }
  return isoBootInfo(outIso, opts);
}
