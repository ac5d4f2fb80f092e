import { createHash } from 'node:crypto';
import { mkdir, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FormatError, MsuError, TruncatedError, UsageError } from '../../src/errors.js';
import {
  childNames,
  parseWimInfoText,
  parseWimXml,
  updateScript,
  wimDir,
  wimExport,
  wimExtract,
  wimInfo,
  wimOptimize,
  wimUpdate,
  wimVerify,
  type WimProgress,
} from '../../src/wim/wimlib.js';
import { corpusPath, hasCorpus } from '../helpers/corpus.js';
import { hasTool, skipNote } from '../helpers/tools.js';
import { buildTestWim, tempDir } from './fixture.js';

const HAVE = hasTool('wimlib-imagex');
if (!HAVE) skipNote('WIM wrapper tests', 'wimlib-imagex (wimtools)');

const sha = async (f: string): Promise<string> => createHash('sha256').update(await readFile(f)).digest('hex');

describe('parseWimXml (pure)', () => {
  const xml = (body: string): Buffer => Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from(`<WIM>${body}</WIM>`, 'utf16le')]);

  it('maps WINDOWS/ARCH codes and keeps three version parts without SPBUILD', () => {
    const images = parseWimXml(
      xml(
        '<IMAGE INDEX="2"><NAME>b</NAME><WINDOWS><ARCH>12</ARCH><VERSION><MAJOR>10</MAJOR><MINOR>0</MINOR><BUILD>22621</BUILD></VERSION></WINDOWS></IMAGE>' +
          '<IMAGE INDEX="1"><NAME>a</NAME><FILECOUNT>5</FILECOUNT><WINDOWS><ARCH>0</ARCH><VERSION><MAJOR>6</MAJOR><MINOR>1</MINOR><BUILD>7601</BUILD><SPBUILD>24214</SPBUILD></VERSION><LANGUAGES><LANGUAGE>ja-JP</LANGUAGE><DEFAULT>ja-JP</DEFAULT></LANGUAGES></WINDOWS></IMAGE>' +
          '<IMAGE INDEX="3"><NAME>c</NAME><WINDOWS><ARCH>77</ARCH></WINDOWS></IMAGE>',
      ),
      'x.wim',
    );
    expect(images.map((i) => [i.index, i.name, i.arch, i.version])).toEqual([
      [1, 'a', 'x86', '6.1.7601.24214'],
      [2, 'b', 'arm64', '10.0.22621'],
      [3, 'c', 'unknown', undefined],
    ]);
    expect(images[0]!.languages).toEqual(['ja-JP']);
    expect(images[0]!.defaultLanguage).toBe('ja-JP');
    expect(images[0]!.fileCount).toBe(5);
  });

  it('rejects an IMAGE without INDEX and a foreign root, naming the file', () => {
    const e1 = (() => { try { parseWimXml(xml('<IMAGE><NAME>x</NAME></IMAGE>'), 'bad.wim'); } catch (e) { return e; } })() as FormatError;
    expect(e1).toBeInstanceOf(FormatError);
    expect(e1.code).toBe('E_WIM_XML');
    expect(e1.file).toBe('bad.wim');
    expect(() => parseWimXml('<NOTWIM/>', 'bad.wim')).toThrow(/root is <NOTWIM>/);
  });

  it('reads header facts from the text of wimlib-imagex info', () => {
    const out = 'WIM Information:\n----------------\nPath:           x.wim\nImage Count:    3\nCompression:    LZMS\nChunk Size:     131072 bytes\nPart Number:    1/2\nBoot Index:     2\n\nAvailable Images:\n-----------------\nIndex:                  1\nBoot Index: 9\n';
    expect(parseWimInfoText(out)).toEqual({ imageCount: 3, compression: 'LZMS', chunkSize: 131072, partNumber: 1, totalParts: 2, bootIndex: 2 });
  });

  it('writes update commands with quotes chosen per argument and rejects line breaks', () => {
    expect(updateScript([
      { op: 'add', src: '/tmp/a b', dest: '\\Windows\\x.txt' },
      { op: 'delete', path: 'Windows/old' },
      { op: 'rename', from: '/a"b', to: '/c' },
    ])).toBe('add "/tmp/a b" "/Windows/x.txt"\ndelete --recursive "/Windows/old"\nrename \'/a"b\' "/c"\n');
    expect(() => updateScript([{ op: 'delete', path: 'a\nb' }])).toThrow(UsageError);
    expect(() => updateScript([{ op: 'delete', path: '/Windows/../etc' }])).toThrow(/\.\./);
  });

  it('lists the immediate children of a directory from a recursive listing, case-insensitively', () => {
    const listing = ['/Windows/System32/DriverStore/FileRepository', '/Windows/System32/DriverStore/FileRepository/b.inf_x', '/Windows/System32/DriverStore/FileRepository/b.inf_x/b.inf', '/WINDOWS/System32/DriverStore/FileRepository/a.inf_y'];
    expect(childNames(listing, '/Windows/System32/DriverStore/FileRepository/')).toEqual(['a.inf_y', 'b.inf_x']);
  });
});

describe.skipIf(!HAVE)('wimlib-imagex wrapper on a WIM built in the test', () => {
  let dir: string;
  let wim: string;
  beforeAll(async () => {
    dir = await tempDir();
    wim = await buildTestWim(dir);
  }, 60_000);
  afterAll(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('wimInfo reads the header and the XML of both images', async () => {
    const info = await wimInfo(wim);
    expect(info.imageCount).toBe(2);
    expect(info.compression).toBe('LZX');
    expect(info.bootIndex).toBe(0);
    expect(info.partNumber).toBe(1);
    expect(info.size).toBe((await readFile(wim)).length);
    const [a, b] = info.images;
    expect(a).toMatchObject({ index: 1, name: 'Windows 10 Pro', description: 'first image', edition: 'Professional', installationType: 'Client', arch: 'amd64', version: '10.0.19044', languages: ['en-US', 'de-DE'], defaultLanguage: 'en-US' });
    expect(b).toMatchObject({ index: 2, name: 'Windows 11 Enterprise', edition: 'Enterprise', arch: 'arm64', version: '10.0.22621.2715', languages: ['fr-FR'] });
    // 5 .mum + 5 .cat + machine.inf + 2 oem INFs + 2 DriverStore packages of 2 files
    expect(a!.fileCount).toBe(17);
  });

  it('wimDir lists a subtree; a missing path is E_WIM_NO_PATH and a missing image a UsageError', async () => {
    const list = await wimDir(wim, 1, '\\Windows\\INF');
    expect(list).toEqual(['/Windows/INF', '/Windows/INF/machine.inf', '/Windows/INF/oem0.inf', '/Windows/INF/oem1.inf']);
    // Windows semantics: case-insensitive lookups
    expect(await wimDir(wim, 1, '/windows/inf/OEM0.INF')).toEqual(['/Windows/INF/oem0.inf']);
    await expect(wimDir(wim, 1, '/Nope')).rejects.toMatchObject({ code: 'E_WIM_NO_PATH', file: wim });
    await expect(wimDir(wim, 3)).rejects.toBeInstanceOf(UsageError);
  });

  it('wimExtract keeps the directory structure, reports progress-free small runs, and leaves nothing on failure', async () => {
    const out = path.join(dir, 'ext');
    const r = await wimExtract(wim, 1, ['/Windows/INF/oem*.inf', '/Windows/NoSuchDir/*'], out);
    expect(r.files).toEqual(['Windows/INF/oem0.inf', 'Windows/INF/oem1.inf']);
    expect(await readFile(path.join(out, 'Windows/INF/oem0.inf'), 'utf8')).toContain('Red Hat');
    expect((await readdir(out)).filter((n) => n.startsWith('.msu-tmp'))).toEqual([]);

    const out2 = path.join(dir, 'ext2');
    await expect(wimExtract(wim, 1, ['/Windows/Missing.txt'], out2, { strict: true })).rejects.toMatchObject({ code: 'E_WIM_NO_PATH' });
    // the target did not exist before: all or nothing means it does not exist after (src/util/fsout.ts)
    await expect(readdir(out2)).rejects.toMatchObject({ code: 'ENOENT' });

    // literal names (no globs): `*` is a character, and the path must exist
    const out3 = path.join(dir, 'ext3');
    expect((await wimExtract(wim, 1, ['/Windows/INF/oem0.inf'], out3, { noGlobs: true })).files).toEqual(['Windows/INF/oem0.inf']);
    await expect(wimExtract(wim, 1, ['/Windows/INF/oem*.inf'], path.join(dir, 'ext4'), { noGlobs: true })).rejects.toMatchObject({ code: 'E_WIM_NO_PATH' });
  });

  it('wimExtract over existing files: refused unless overwrite, which replaces regular files only', async () => {
    const out = path.join(dir, 'ext-over');
    await mkdir(path.join(out, 'Windows', 'INF'), { recursive: true });
    await writeFile(path.join(out, 'Windows', 'INF', 'oem0.inf'), 'mine');
    await writeFile(path.join(out, 'Windows', 'INF', 'other.inf'), 'other');
    await expect(wimExtract(wim, 1, ['/Windows/INF/oem*.inf'], out)).rejects.toMatchObject({ code: 'E_TARGET_EXISTS', message: expect.stringContaining('Windows/INF/oem0.inf (a file)') });
    expect((await readdir(path.join(out, 'Windows', 'INF'))).sort()).toEqual(['oem0.inf', 'other.inf']);
    expect(await readFile(path.join(out, 'Windows', 'INF', 'oem0.inf'), 'utf8')).toBe('mine');
    await wimExtract(wim, 1, ['/Windows/INF/oem*.inf'], out, { overwrite: true });
    expect(await readFile(path.join(out, 'Windows', 'INF', 'oem0.inf'), 'utf8')).toContain('Red Hat');
    expect((await readdir(path.join(out, 'Windows', 'INF'))).sort()).toEqual(['oem0.inf', 'oem1.inf', 'other.inf']);
  });

  it('wimUpdate adds, renames and deletes atomically; a failing batch leaves the file byte-identical', async () => {
    const w = path.join(dir, 'upd.wim');
    await wimExport(wim, 1, w, { compress: 'XPRESS' });
    const src = path.join(dir, 'newfile.txt');
    await writeFile(src, 'hello from msu');
    const progress: WimProgress[] = [];
    await wimUpdate(w, 1, [
      { op: 'add', src, dest: '/Windows/Temp/new file.txt' },
      { op: 'rename', from: '/Windows/INF/oem1.inf', to: '/Windows/INF/oem7.inf' },
      { op: 'delete', path: '/Windows/System32/DriverStore/FileRepository/foo.inf_amd64_abc' },
    ], { onProgress: (p) => progress.push(p) });
    const list = await wimDir(w, 1);
    expect(list).toContain('/Windows/Temp/new file.txt');
    expect(list).toContain('/Windows/INF/oem7.inf');
    expect(list).not.toContain('/Windows/INF/oem1.inf');
    expect(list.some((p) => p.includes('foo.inf_amd64_abc'))).toBe(false);
    expect(progress.at(-1)).toMatchObject({ phase: 'Archiving file data', percent: 100 });
    expect((await wimInfo(w)).compression).toBe('XPRESS');

    const before = await sha(w);
    await expect(wimUpdate(w, 1, [
      { op: 'add', src, dest: '/Windows/Temp/second.txt' },
      { op: 'delete', path: '/Windows/Does/Not/Exist' },
    ])).rejects.toMatchObject({ code: 'E_WIM_NO_PATH', file: w });
    expect(await sha(w)).toBe(before);
    expect((await readdir(dir)).filter((n) => n.startsWith('upd.wim') || n.startsWith('.msu-tmp'))).toEqual(['upd.wim']);
  });

  it('wimExport into an existing WIM appends an image; wimOptimize and wimVerify keep it valid', async () => {
    const w = path.join(dir, 'exp.wim');
    await wimExport(wim, 2, w);
    await wimExport(wim, 1, w, { name: 'copy of 1' });
    const info = await wimInfo(w);
    expect(info.images.map((i) => [i.index, i.name])).toEqual([[1, 'Windows 11 Enterprise'], [2, 'copy of 1']]);
    await wimOptimize(w);
    await wimVerify(w);
    expect((await wimInfo(w)).imageCount).toBe(2);
  });
});

describe.skipIf(!HAVE)('bad WIMs give one typed error naming the file', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await tempDir();
  });
  afterAll(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('not a WIM → E_WIM_CORRUPT; truncated → TruncatedError; missing → IoError', async () => {
    const junk = path.join(dir, 'junk.wim');
    await writeFile(junk, Buffer.alloc(4096, 0x41));
    const e = await wimInfo(junk).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(FormatError);
    expect((e as MsuError).code).toBe('E_WIM_CORRUPT');
    expect((e as MsuError).describe()).toBe(`${junk}: invalid WIM: Invalid magic characters in header: The file did not begin with the magic characters that identify a WIM file (wimlib error 43)`);

    const good = path.join(dir, 'g');
    await mkdir(good);
    await writeFile(path.join(good, 'f.txt'), 'x'.repeat(1000));
    const { wimCapture } = await import('../../src/wim/wimlib.js');
    const w = path.join(dir, 'g.wim');
    await wimCapture(good, w, 'g');
    const bytes = await readFile(w);
    const cut = path.join(dir, 'cut.wim');
    await writeFile(cut, bytes.subarray(0, 300));
    await expect(wimInfo(cut)).rejects.toBeInstanceOf(TruncatedError);
    await expect(wimInfo(path.join(dir, 'absent.wim'))).rejects.toMatchObject({ code: 'E_IO_ENOENT' });
  });

  it('a later part of a split WIM is a usage error that says to name the first part, not a tool failure', async () => {
    const src = path.join(dir, 'split-src');
    await mkdir(src);
    // stored uncompressed, so that parts of 1 MiB make two
    await writeFile(path.join(src, 'b.bin'), Buffer.from(Array.from({ length: 1_500_000 }, (_, i) => (i * 2654435761) >>> 24)));
    const { wimCapture } = await import('../../src/wim/wimlib.js');
    const whole = path.join(dir, 'whole.wim');
    await wimCapture(src, whole, 's', { compress: 'none' });
    const { execFileSync } = await import('node:child_process');
    execFileSync('wimlib-imagex', ['split', whole, path.join(dir, 'part.swm'), '1']);
    const e = await wimDir(path.join(dir, 'part2.swm'), 1).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(UsageError);
    expect((e as MsuError).describe()).toBe(`${path.join(dir, 'part2.swm')}: is not the first part of a split WIM: name the first part (e.g. install.swm, not install2.swm)`);
  });

  const cases: Array<[string, string, RegExp]> = [
    ['corrupted_file_1.wim', 'E_WIM_CORRUPT', /SHA-1 message digest .* did not match .*wimlib error 28/],
    ['corrupted_file_2.wim', 'E_WIM_CORRUPT', /invalid compressed data .*wimlib error 2\)/],
    ['cyclic.wim', 'E_WIM_CORRUPT', /Directory structure too deep: The metadata resource is invalid \(wimlib error 21\)/],
    ['dotdot.wim', 'E_WIM_INVALID_TREE', /Ignoring file named "\." or "\.\."/],
    ['duplicate_names.wim', 'E_WIM_INVALID_TREE', /Ignoring duplicate file "\/1"/],
  ];
  for (const [name, code, re] of cases) {
    it.skipIf(!hasCorpus)(`${name}: wimVerify → ${code}`, async () => {
      const f = corpusPath('wim', name);
      const e = await wimVerify(f).catch((x: unknown) => x);
      expect(e).toBeInstanceOf(FormatError);
      expect((e as MsuError).code).toBe(code);
      expect((e as MsuError).file).toBe(f);
      expect((e as MsuError).message).toMatch(re);
    });
  }

  it.skipIf(!hasCorpus)('tree problems also stop wimDir/wimExtract, and extraction leaves nothing behind', async () => {
    await expect(wimDir(corpusPath('wim', 'cyclic.wim'), 1)).rejects.toMatchObject({ code: 'E_WIM_CORRUPT' });
    await expect(wimDir(corpusPath('wim', 'duplicate_names.wim'), 1)).rejects.toMatchObject({ code: 'E_WIM_INVALID_TREE' });
    const out = path.join(dir, 'x');
    await expect(wimExtract(corpusPath('wim', 'corrupted_file_1.wim'), 1, ['/'], out)).rejects.toMatchObject({ code: 'E_WIM_CORRUPT' });
    await expect(wimExtract(corpusPath('wim', 'dotdot.wim'), 1, ['/'], out)).rejects.toMatchObject({
      code: 'E_WIM_INVALID_TREE',
      message: 'invalid image directory tree: Ignoring file named "." or ".." in directory "/"',
    });
    await expect(readdir(out)).rejects.toMatchObject({ code: 'ENOENT' });
  });

  it.skipIf(!hasCorpus)('a valid corpus WIM with long paths extracts fully', async () => {
    const out = path.join(dir, 'long');
    const f = corpusPath('wim', 'longpaths.wim');
    const listing = await wimDir(f, 1);
    const deepest = listing.reduce((a, b) => (b.length > a.length ? b : a));
    expect(deepest.length).toBeGreaterThan(260);
    await wimExtract(f, 1, ['/'], out);
    const onDisk = (await readdir(out, { recursive: true })).map((p) => '/' + p.split(path.sep).join('/')).sort();
    expect(onDisk).toEqual(listing.filter((p) => p !== '/').sort());
  });

  it('bad arguments are UsageErrors before wimlib runs', async () => {
    await expect(wimDir('x.wim', 0)).rejects.toBeInstanceOf(UsageError);
    await expect(wimExtract('x.wim', 1, [], dir)).rejects.toBeInstanceOf(UsageError);
  });
});
