// FileSource reads small ranges synchronously and large ones through the thread pool
// (src/util/source.ts): both paths must hand back the same bytes and the same errors.
import { closeSync, mkdtempSync, readFileSync, rmSync, symlinkSync, truncateSync, writeFileSync, mkdirSync } from 'node:fs';
import { createServer } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { IoError, TruncatedError } from '../../src/errors.js';
import { FileSource, inputChunks, MAX_WHOLE_FILE, openInput, openInputSync, readWholeFile } from '../../src/util/source.js';
import { fifoWithWaker } from '../helpers/fifo.js';
import { seededBytes } from '../helpers/rng.js';

let tmp: string;
const data = seededBytes(3 * 1024 * 1024 + 77, 14);

beforeAll(() => {
  tmp = mkdtempSync(path.join(os.tmpdir(), 'msu-source-'));
});
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe('FileSource', () => {
  it('returns the bytes at any offset, for small (sync) and large (async) reads alike', async () => {
    const f = path.join(tmp, 'data.bin');
    writeFileSync(f, data);
    const src = await FileSource.open(f, 'data.bin');
    try {
      expect(src.size).toBe(data.length);
      for (const [off, len] of [[0, 1], [12345, 4096], [1, 1 << 20], [100, (1 << 20) + 1], [7, 2 * 1024 * 1024 + 5], [data.length - 3, 3], [data.length, 0]] as const) {
        expect(Buffer.from(await src.read(off, len)).equals(Buffer.from(data.subarray(off, off + len))), `${off}+${len}`).toBe(true);
      }
      expect(src.bytesRead).toBe(1 + 4096 + (1 << 20) + (1 << 20) + 1 + 2 * 1024 * 1024 + 5 + 3);
    } finally {
      await src.close();
    }
  });

  it('a range past the end is a TruncatedError naming the file and what was read', async () => {
    const f = path.join(tmp, 'short.bin');
    writeFileSync(f, data.subarray(0, 100));
    const src = await FileSource.open(f, 'short.bin');
    await expect(src.read(90, 20, 'CFHEADER')).rejects.toThrow(TruncatedError);
    await expect(src.read(90, 20, 'CFHEADER')).rejects.toMatchObject({ file: 'short.bin', message: expect.stringContaining('truncated CFHEADER: needs 20 bytes at offset 90, file has 100') });
    await src.close();
  });

  it('a file that shrinks after opening is reported, by the sync and the async path', async () => {
    for (const len of [1000, 2 * 1024 * 1024]) {
      const f = path.join(tmp, `shrinks-${len}.bin`);
      writeFileSync(f, data.subarray(0, len));
      const src = await FileSource.open(f, 'shrinks.bin');
      truncateSync(f, 10);
      await expect(src.read(0, len, 'payload')).rejects.toMatchObject({ file: 'shrinks.bin', message: 'file shrank while reading payload' });
      await src.close();
    }
  });

  it('open errors are IoErrors naming the file: missing, a directory', async () => {
    await expect(FileSource.open(path.join(tmp, 'nope.msu'), 'nope.msu')).rejects.toMatchObject({ code: 'E_IO_ENOENT', file: 'nope.msu' });
    const d = path.join(tmp, 'dir.msu');
    mkdirSync(d);
    const err = await FileSource.open(d, 'dir.msu').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(IoError);
    expect(err).toMatchObject({ code: 'E_IO_EISDIR', file: 'dir.msu' });
  });

  it('reading after close is an IoError, and closing twice is harmless', async () => {
    const f = path.join(tmp, 'closed.bin');
    writeFileSync(f, data.subarray(0, 10));
    const src = await FileSource.open(f, 'closed.bin');
    await src.close();
    await src.close();
    await expect(src.read(0, 4)).rejects.toMatchObject({ code: 'E_IO_EBADF', file: 'closed.bin' });
  });
});

describe('readWholeFile', () => {
  it('reads a file whole; a directory, a missing file or one over the limit is one error naming it', async () => {
    const f = path.join(tmp, 'whole.bin');
    writeFileSync(f, data.subarray(0, 1000));
    expect(Buffer.from(await readWholeFile(f, 'delta'))).toEqual(data.subarray(0, 1000));
    await expect(readWholeFile(f, 'delta', 999)).rejects.toMatchObject({ code: 'E_TOO_LARGE', file: f, message: expect.stringMatching(/1000 bytes, more than any delta \(limit 999\)/) });
    await expect(readWholeFile(tmp, 'delta')).rejects.toMatchObject({ code: 'E_IO_EISDIR', file: tmp });
    await expect(readWholeFile(path.join(tmp, 'nope'), 'delta')).rejects.toBeInstanceOf(IoError);
    // the default limit is what one Buffer can hold: a sparse file just over it is refused unread
    const big = path.join(tmp, 'sparse.bin');
    writeFileSync(big, '');
    truncateSync(big, MAX_WHOLE_FILE + 1);
    await expect(readWholeFile(big, 'base manifest')).rejects.toMatchObject({ code: 'E_TOO_LARGE', file: big });
    rmSync(big);
  });
});

describe('input files that are not regular files', () => {
  // Opening a FIFO without O_NONBLOCK waits for a writer: the waker (test/helpers/fifo.ts) turns
  // that hang into a failed assertion; each test's short timeout catches the rest.
  let fifo: string;
  let waker: { stop(): void };
  beforeAll(() => {
    fifo = path.join(tmp, 'pipe');
    waker = fifoWithWaker(fifo);
  });
  afterAll(() => waker.stop());
  const refused = (file: string) => ({ code: 'E_IO_NOT_FILE', file, message: 'not a regular file' });
  const chunksOf = async (file: string): Promise<Buffer> => {
    const parts: Buffer[] = [];
    for await (const c of inputChunks(file, 1000)) parts.push(c);
    return Buffer.concat(parts);
  };

  it('a FIFO: FileSource.open, readWholeFile and inputChunks refuse it, naming the file as given', async () => {
    await expect(FileSource.open(fifo, 'pipe.msu')).rejects.toMatchObject(refused('pipe.msu'));
    await expect(FileSource.open(fifo)).rejects.toBeInstanceOf(IoError);
    await expect(readWholeFile(fifo, 'delta')).rejects.toMatchObject(refused(fifo));
    await expect(chunksOf(fifo)).rejects.toMatchObject({ code: 'E_IO_NOT_FILE' });
    expect(() => openInputSync(fifo)).toThrow('not a regular file');
    await expect(openInput(fifo)).rejects.toMatchObject({ code: 'E_IO_NOT_FILE' });
  }, 5000);

  it('a symbolic link to a FIFO, a character device and a socket are refused too', async () => {
    const link = path.join(tmp, 'link-to-pipe');
    symlinkSync(fifo, link);
    await expect(FileSource.open(link)).rejects.toMatchObject(refused(link));
    await expect(FileSource.open('/dev/null')).rejects.toMatchObject(refused('/dev/null'));
    await expect(readWholeFile('/dev/zero', 'base manifest')).rejects.toMatchObject(refused('/dev/zero'));
    const sock = path.join(tmp, 'sock');
    const server = createServer();
    await new Promise<void>((resolve) => server.listen(sock, resolve));
    try {
      await expect(FileSource.open(sock)).rejects.toMatchObject(refused(sock));
      await expect(readWholeFile(sock, 'delta')).rejects.toMatchObject(refused(sock));
    } finally {
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  }, 5000);

  it('a regular file, directly or through a symbolic link, reads as before; a directory keeps its message', async () => {
    const f = path.join(tmp, 'regular.bin');
    writeFileSync(f, data.subarray(0, 5000));
    const link = path.join(tmp, 'link-to-regular');
    symlinkSync(f, link);
    const src = await FileSource.open(link, 'shown');
    try {
      expect(src.size).toBe(5000);
      expect(Buffer.from(await src.read(10, 20))).toEqual(Buffer.from(data.subarray(10, 30)));
    } finally {
      await src.close();
    }
    expect(Buffer.from(await readWholeFile(link, 'delta'))).toEqual(readFileSync(f));
    expect(await chunksOf(link)).toEqual(readFileSync(f));
    const { fd, size } = openInputSync(f);
    closeSync(fd);
    expect(size).toBe(5000);
    await expect(FileSource.open(tmp, 'dir')).rejects.toMatchObject({ code: 'E_IO_EISDIR', file: 'dir', message: 'cannot open: is a directory' });
  }, 5000);
});
