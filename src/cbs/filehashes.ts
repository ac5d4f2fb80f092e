import { FormatError } from '../errors.js';
import { decodeText } from '../util/xml.js';

/**
 * `$filehashes$.dat` in Feature-on-Demand and language package cabinets: UTF-16LE text with
 * `[sha1]` and `[sha256]` sections, one `member=HASH,SIZEHEX` line per cabinet member (the hash
 * of the member as stored, its size in hexadecimal). Section names and hashes are case-insensitive.
 */
export interface FileHashEntry {
  /** Member name as written (backslash-separated). */
  name: string;
  alg: 'sha1' | 'sha256';
  /** Lowercase hex. */
  digestHex: string;
  size: number;
  /** 1-based line number. */
  line: number;
}

export interface FileHashes {
  entries: FileHashEntry[];
}

export const FILEHASHES_NAME = '$filehashes$.dat';

const DIGEST_LEN = { sha1: 40, sha256: 64 } as const;

/** Parse `$filehashes$.dat`. FormatError (naming the line) on anything that is not a section, a blank line or an entry. */
export function parseFileHashes(bytes: Uint8Array, file?: string): FileHashes {
  const text = decodeText(bytes).replace(/^\uFEFF/, '');
  const entries: FileHashEntry[] = [];
  let section: 'sha1' | 'sha256' | undefined;
  const lines = text.split(/\r?\n/);
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!.trim();
    const where = `line ${i + 1}`;
    if (line === '') continue;
    const sec = /^\[([^\]]*)\]$/.exec(line);
    if (sec) {
      const s = sec[1]!.trim().toLowerCase();
      if (s !== 'sha1' && s !== 'sha256') throw new FormatError('E_FILEHASHES', `unknown section [${sec[1]}]`, { file, where });
      section = s;
      continue;
    }
    const eq = line.lastIndexOf('=');
    if (eq <= 0) throw new FormatError('E_FILEHASHES', 'line is neither a [section] nor name=HASH,SIZE', { file, where });
    if (!section) throw new FormatError('E_FILEHASHES', 'entry before any [sha1] or [sha256] section', { file, where });
    const name = line.slice(0, eq);
    const m = /^([0-9a-fA-F]+),([0-9a-fA-F]{1,13})$/.exec(line.slice(eq + 1).trim());
    if (!m || m[1]!.length !== DIGEST_LEN[section]) {
      throw new FormatError('E_FILEHASHES', `value of ${JSON.stringify(name)} is not a ${section} hash and a hex size`, { file, where });
    }
    entries.push({ name, alg: section, digestHex: m[1]!.toLowerCase(), size: parseInt(m[2]!, 16), line: i + 1 });
  }
  return { entries };
}
