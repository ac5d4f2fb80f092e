import { mkdtempSync, openSync, readFileSync, readSync, closeSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { FormatError, UsageError } from '../../src/errors.js';
import { buildMbr, copyOutStatusDisk, diskIds, createStatusDisk, fatTypeFor, listStatusDisk, readStatusFile, readStatusJson } from '../../src/vm/status-disk.js';
import { hasTool, skipNote } from '../helpers/tools.js';

const dir = mkdtempSync(path.join(os.tmpdir(), 'msu-status-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function readAt(file: string, offset: number, len: number): Buffer {
  const fd = openSync(file, 'r');
  try {
    const b = Buffer.alloc(len);
    readSync(fd, b, 0, len, offset);
    return b;
  } finally {
    closeSync(fd);
  }
}

describe('MBR', () => {
  it('has one partition at LBA 2048 covering the rest of the disk, with the boot signature', () => {
    const mbr = buildMbr(131072, 0x0c);
    expect(mbr.length).toBe(512);
    expect(mbr[446 + 4]).toBe(0x0c);
    expect(mbr.readUInt32LE(446 + 8)).toBe(2048);
    expect(mbr.readUInt32LE(446 + 12)).toBe(131072 - 2048);
    expect(mbr.subarray(462, 510).every((b) => b === 0)).toBe(true);
    expect([mbr[510], mbr[511]]).toEqual([0x55, 0xaa]);
  });

  it.runIf(hasTool('mformat'))('every disk of a run has its own non-zero MBR signature and FAT serial (Windows keeps duplicate signatures offline)', async () => {
    const disks: Array<[string, number]> = [['MSUSCRATCH', 64], ['MSUOUT', 64], ['MSUSTATUS', 8], ['MSUINPUT', 8]];
    const seen = { sig: new Set<number>(), serial: new Set<number>() };
    for (const [label, sizeMiB] of disks) {
      const img = path.join(dir, `ids-${label}.img`);
      await createStatusDisk(img, { sizeMiB, label });
      const sig = readAt(img, 440, 4).readUInt32LE(0);
      // the volume serial sits in the FAT boot sector: offset 0x43 for FAT32, 0x27 for FAT16
      const serial = readAt(img, 1024 * 1024 + (fatTypeFor(sizeMiB) === 'fat32' ? 0x43 : 0x27), 4).readUInt32LE(0);
      expect(sig, label).not.toBe(0);
      expect(serial, label).not.toBe(0);
      expect(readAt(img, 444, 2).equals(Buffer.alloc(2)), label).toBe(true);
      seen.sig.add(sig);
      seen.serial.add(serial);
      // the same label gives the same disk identity (reproducible images)
      expect(diskIds(label)).toEqual({ signature: sig, serial });
    }
    expect(seen.sig.size).toBe(disks.length);
    expect(seen.serial.size).toBe(disks.length);
  });

  it('uses FAT16 below the FAT32 cluster minimum', () => {
    expect(fatTypeFor(8)).toBe('fat16');
    expect(fatTypeFor(39)).toBe('fat16');
    expect(fatTypeFor(40)).toBe('fat32');
  });
});

const has = hasTool('mformat') && hasTool('mcopy');
if (!has) skipNote('status disk round trip', 'mtools');

describe.skipIf(!has)('status disk with mtools', () => {
  it('creates a FAT32 disk with params and nested files, and reads them back', async () => {
    const img = path.join(dir, 'a.img');
    await createStatusDisk(img, { sizeMiB: 64, files: { 'params.json': '{"round":1}\n', 'scripts/run.ps1': 'Write-Host hi\r\n', 'bin/x.bin': Uint8Array.of(0, 1, 2, 255) } });
    expect(statSync(img).size).toBe(64 * 1024 * 1024);
    expect(readAt(img, 446 + 4, 1)[0]).toBe(0x0c);
    // the partition's boot sector says FAT32 and knows its offset (hidden sectors = 2048)
    const bs = readAt(img, 1024 * 1024, 512);
    expect(bs.subarray(82, 90).toString('latin1')).toBe('FAT32   ');
    expect(bs.readUInt32LE(28)).toBe(2048);
    expect(await listStatusDisk(img)).toEqual(['bin/x.bin', 'params.json', 'scripts/run.ps1']);
    expect(Buffer.from((await readStatusFile(img, 'bin/x.bin'))!)).toEqual(Buffer.from([0, 1, 2, 255]));
    expect(await readStatusJson(img, 'params.json')).toEqual({ round: 1 });
    expect(await readStatusFile(img, 'status.json')).toBeUndefined();
    expect(await readStatusJson(img)).toBeUndefined();

    const out = path.join(dir, 'out');
    expect(await copyOutStatusDisk(img, out)).toEqual(['bin/x.bin', 'params.json', 'scripts/run.ps1']);
    expect(readFileSync(path.join(out, 'scripts', 'run.ps1'), 'utf8')).toBe('Write-Host hi\r\n');
  });

  it('makes a FAT16 disk (matching the MBR type) when too small for FAT32, down to the 4 MiB minimum', async () => {
    for (const size of [4, 8, 39]) {
      const img = path.join(dir, `small${size}.img`);
      await createStatusDisk(img, { sizeMiB: size, files: { 'params.json': '{}' } });
      expect(readAt(img, 446 + 4, 1)[0]).toBe(0x0e);
      expect(readAt(img, 1024 * 1024 + 54, 8).toString('latin1'), `${size} MiB`).toBe('FAT16   ');
      expect(await listStatusDisk(img)).toEqual(['params.json']);
    }
  });

  it('makes a large sparse FAT32 disk (scratch/output disks) without writing its size', async () => {
    const img = path.join(dir, 'big.img');
    await createStatusDisk(img, { sizeMiB: 65536, label: 'msuscratch' });
    expect(statSync(img).size).toBe(65536 * 1024 * 1024);
    expect(statSync(img).blocks * 512).toBeLessThan(64 * 1024 * 1024);
    expect(readAt(img, 446 + 12, 4).readUInt32LE(0)).toBe(65536 * 2048 - 2048);
    const bs = readAt(img, 1024 * 1024, 512);
    expect(bs.subarray(71, 82).toString('latin1')).toBe('MSUSCRATCH ');
    expect(await listStatusDisk(img)).toEqual([]);
    rmSync(img);
  });

  it('reads a status.json written with a UTF-8 BOM (PowerShell) and names IMG:/FILE when it is not JSON', async () => {
    const img = path.join(dir, 'b.img');
    await createStatusDisk(img, { sizeMiB: 8, files: { 'status.json': '\ufeff{"ok":true,"rounds":3}', 'broken.json': '{"ok":tru' } });
    expect(await readStatusJson(img)).toEqual({ ok: true, rounds: 3 });
    await expect(readStatusJson(img, 'broken.json')).rejects.toThrow(FormatError);
    await expect(readStatusJson(img, 'broken.json')).rejects.toMatchObject({ file: `${img}:/broken.json`, code: 'E_VM_STATUS_JSON' });
  });

  it('refuses hostile names and bad sizes', async () => {
    await expect(createStatusDisk(path.join(dir, 'c.img'), { sizeMiB: 8, files: { '../escape': 'x' } })).rejects.toThrow(UsageError);
    await expect(readStatusFile(path.join(dir, 'a.img'), '/abs')).rejects.toThrow('must be a relative path of plain names');
    await expect(createStatusDisk(path.join(dir, 'd.img'), { sizeMiB: 2 })).rejects.toThrow('status disk size must be 4..1048576 MiB, got 2');
  });

  it('reports a non-FAT image as a tool error naming the image', async () => {
    const img = path.join(dir, 'junk.img');
    writeFileSync(img, Buffer.alloc(2 * 1024 * 1024, 0x41));
    await expect(listStatusDisk(img)).rejects.toMatchObject({ code: 'E_TOOL_FAILED', file: img });
  });
});
