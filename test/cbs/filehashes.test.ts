import { describe, expect, it } from 'vitest';
import { parseFileHashes } from '../../src/cbs/filehashes.js';
import { MsuError } from '../../src/errors.js';

const utf16 = (text: string): Uint8Array => Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from(text, 'utf16le')]);
const H1 = '96782A4B8AFF602600DEC1998AC959B50A98B0D9';
const H256 = 'C0FFEE'.padEnd(64, '0');

describe('$filehashes$.dat', () => {
  it('reads [sha1] and [sha256] sections of name=HASH,SIZEHEX lines (UTF-16LE, CRLF)', () => {
    const f = parseFileHashes(utf16(`[sha1]\r\n\r\nupdate.mum=${H1},2B2C\r\ncomp\\ssh.exe=${H1.toLowerCase()},d7800\r\n[SHA256]\r\nupdate.mum=${H256},2b2c\r\n`));
    expect(f.entries).toEqual([
      { name: 'update.mum', alg: 'sha1', digestHex: H1.toLowerCase(), size: 0x2b2c, line: 3 },
      { name: 'comp\\ssh.exe', alg: 'sha1', digestHex: H1.toLowerCase(), size: 0xd7800, line: 4 },
      { name: 'update.mum', alg: 'sha256', digestHex: H256.toLowerCase(), size: 0x2b2c, line: 6 },
    ]);
  });

  it('refuses what is not the format, naming the file and line', () => {
    const fail = (text: string): MsuError => {
      try {
        parseFileHashes(utf16(text), 'x.dat');
      } catch (e) {
        return e as MsuError;
      }
      throw new Error('no error');
    };
    expect(fail(`a=${H1},1`).describe()).toBe('x.dat: entry before any [sha1] or [sha256] section (line 1)');
    expect(fail('[md5]').describe()).toBe('x.dat: unknown section [md5] (line 1)');
    expect(fail(`[sha256]\na=${H1},1`).describe()).toBe('x.dat: value of "a" is not a sha256 hash and a hex size (line 2)');
    expect(fail('[sha1]\njust text').describe()).toBe('x.dat: line is neither a [section] nor name=HASH,SIZE (line 2)');
    expect(fail(`[sha1]\na=${H1},XYZ`).code).toBe('E_FILEHASHES');
  });
});
