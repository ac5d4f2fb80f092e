/**
 * The status disk: a small raw image with an MBR and one FAT partition at 1 MiB, built
 * and read without root (mtools addresses the partition as `IMG@@1M`). The host puts
 * the guest's parameters on it; the guest writes status.json and logs; the host reads
 * them back. FAT32 needs at least 65525 clusters, so small disks get FAT16 instead.
 */
import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, open, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { FormatError, IoError, ioError, MsuError, UsageError } from '../errors.js';
import { runTool, ToolRunError } from '../util/exec.js';

const SECTOR = 512;
/** Partition start: LBA 2048 = 1 MiB, the usual alignment. */
const PART_START_LBA = 2048;
/** Below this, FAT32's minimum cluster count does not fit with 512-byte clusters. */
export const FAT32_MIN_MIB = 40;
export const MAX_DISK_MIB = 1024 * 1024;
/** MBR partition types: FAT32 with LBA addressing, FAT16 with LBA addressing. */
const TYPE_FAT32_LBA = 0x0c;
const TYPE_FAT16_LBA = 0x0e;

const MTOOLS_ENV = { MTOOLS_SKIP_CHECK: '1' };

export interface StatusDiskOptions {
  sizeMiB: number;
  /** Files to put on the disk: relative path (forward slashes) → content. */
  files?: Record<string, string | Uint8Array>;
  label?: string;
}

/**
 * The MBR disk signature and FAT volume serial of a disk with this label. Windows tells MBR
 * disks apart by their signature and keeps a second disk with the same signature offline, so
 * every disk of a run gets its own (the labels differ); both are non-zero, and the same label
 * always gives the same values, so images stay reproducible.
 */
export function diskIds(label: string): { signature: number; serial: number } {
  const h = createHash('sha256').update(`msu-toolkit disk ${label}`).digest();
  const nonZero = (n: number): number => (n === 0 ? 0x4d535530 : n);
  return { signature: nonZero(h.readUInt32LE(0)), serial: nonZero(h.readUInt32LE(4)) };
}

export function fatTypeFor(sizeMiB: number): 'fat32' | 'fat16' {
  return sizeMiB >= FAT32_MIN_MIB ? 'fat32' : 'fat16';
}

/** A classic MBR with one partition entry; CHS fields set to the "use LBA" maximum. */
export function buildMbr(totalSectors: number, type: number, signature = 0): Buffer {
  const mbr = Buffer.alloc(SECTOR);
  // disk signature at 440 (Windows' identity for an MBR disk), then two reserved zero bytes
  mbr.writeUInt32LE(signature >>> 0, 440);
  const e = 446;
  mbr[e] = 0x00; // not bootable
  mbr.set([0xfe, 0xff, 0xff], e + 1);
  mbr[e + 4] = type;
  mbr.set([0xfe, 0xff, 0xff], e + 5);
  mbr.writeUInt32LE(PART_START_LBA, e + 8);
  mbr.writeUInt32LE(totalSectors - PART_START_LBA, e + 12);
  mbr[510] = 0x55;
  mbr[511] = 0xaa;
  return mbr;
}

function part(img: string): string {
  return `${img}@@1M`;
}

function checkName(rel: string): string[] {
  const parts = rel.split('/');
  if (rel.length === 0 || rel.startsWith('/') || parts.some((p) => p === '' || p === '.' || p === '..' || /[\0\\:*?"<>|]/.test(p))) {
    throw new UsageError(`status disk file name ${JSON.stringify(rel)} must be a relative path of plain names`);
  }
  return parts;
}

/** Create the image (replacing any old one) and copy `files` onto it. */
export async function createStatusDisk(img: string, opts: StatusDiskOptions): Promise<void> {
  // the image is sparse, so large scratch/output disks cost nothing until written; MBR sizes stop at 2 TiB
  if (!Number.isInteger(opts.sizeMiB) || opts.sizeMiB < 4 || opts.sizeMiB > MAX_DISK_MIB) throw new UsageError(`status disk size must be 4..${MAX_DISK_MIB} MiB, got ${opts.sizeMiB}`);
  const fat = fatTypeFor(opts.sizeMiB);
  const total = (opts.sizeMiB * 1024 * 1024) / SECTOR;
  const label = (opts.label ?? 'MSUSTATUS').toUpperCase().slice(0, 11);
  const ids = diskIds(label);
  try {
    const fh = await open(img, 'w');
    try {
      await fh.truncate(opts.sizeMiB * 1024 * 1024);
      await fh.write(buildMbr(total, fat === 'fat32' ? TYPE_FAT32_LBA : TYPE_FAT16_LBA, ids.signature), 0, SECTOR, 0);
    } finally {
      await fh.close();
    }
  } catch (err) {
    throw ioError(err, img, 'create');
  }
  // Serial from the label: the same inputs give the same boot sector, and no two disks of a run share one.
  const args = ['-i', part(img), '-H', String(PART_START_LBA), '-N', ids.serial.toString(16).padStart(8, '0'), '-v', label];
  if (fat === 'fat32') args.push('-F');
  // mformat picks FAT12 for small disks by cluster count; the MBR type says FAT16, so keep
  // clusters small enough for FAT16's minimum of 4085 (and under its maximum of 65524)
  else args.push('-c', total - PART_START_LBA > 65000 ? '2' : '1');
  await runTool('mformat', [...args, '::'], { file: img, env: MTOOLS_ENV });

  const files = opts.files ?? {};
  const names = Object.keys(files).sort();
  if (names.length === 0) return;
  const tmp = await mkdtemp(path.join(os.tmpdir(), 'msu-status-'));
  try {
    const dirs = new Set<string>();
    for (const rel of names) {
      const parts = checkName(rel);
      for (let i = 1; i < parts.length; i++) dirs.add(parts.slice(0, i).join('/'));
    }
    for (const d of [...dirs].sort()) await runTool('mmd', ['-i', part(img), `::/${d}`], { file: img, env: MTOOLS_ENV });
    for (const [i, rel] of names.entries()) {
      const src = path.join(tmp, String(i));
      await writeFile(src, files[rel]!);
      await runTool('mcopy', ['-o', '-i', part(img), src, `::/${rel}`], { file: img, env: MTOOLS_ENV });
    }
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
}

/** All files on the disk (relative paths, sorted); directories are not listed. */
export async function listStatusDisk(img: string): Promise<string[]> {
  let r;
  try {
    r = await runTool('mdir', ['-/', '-b', '-i', part(img), '::/'], { file: img, env: MTOOLS_ENV });
  } catch (e) {
    // bare mode reports an empty root directory as "not found"
    if (e instanceof ToolRunError && /File "::\/" not found/.test(e.stderr)) return [];
    throw e;
  }
  return r.stdout
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l.startsWith('::/') && !l.endsWith('/'))
    .map((l) => l.slice(3))
    .sort();
}

/** One file's bytes, or undefined if it does not exist. */
export async function readStatusFile(img: string, rel: string): Promise<Uint8Array | undefined> {
  checkName(rel);
  try {
    const r = await runTool('mcopy', ['-i', part(img), `::/${rel}`, '-'], { file: img, env: MTOOLS_ENV, binary: true });
    return r.stdout;
  } catch (e) {
    if (e instanceof ToolRunError && /not found/i.test(e.stderr)) return undefined;
    throw e;
  }
}

/** Parse a JSON file from the status disk; errors name `IMG:/FILE`. Undefined if absent. */
export async function readStatusJson(img: string, rel = 'status.json'): Promise<unknown> {
  const bytes = await readStatusFile(img, rel);
  if (bytes === undefined) return undefined;
  const where = `${img}:/${rel}`;
  let text = Buffer.from(bytes).toString('utf8');
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1); // PowerShell's UTF-8 writes a BOM
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new FormatError('E_VM_STATUS_JSON', `status file is not valid JSON: ${(e as Error).message}`, { file: where });
  }
}

/** Copy every file off the disk into `destDir` (created if needed); returns the relative paths. */
export async function copyOutStatusDisk(img: string, destDir: string): Promise<string[]> {
  const files = await listStatusDisk(img);
  try {
    await mkdir(destDir, { recursive: true });
  } catch (err) {
    throw ioError(err, destDir, 'create');
  }
  if (files.length === 0) return files;
  try {
    await runTool('mcopy', ['-s', '-n', '-o', '-i', part(img), '::/*', destDir], { file: img, env: MTOOLS_ENV });
  } catch (e) {
    if (e instanceof MsuError) throw e;
    throw new IoError('E_IO_COPY', `cannot copy files off the status disk: ${(e as Error).message}`, { file: img });
  }
  return files;
}
