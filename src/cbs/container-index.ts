import { FormatError, UnsupportedError } from '../errors.js';
import { attr, child, childrenNamed, parseXml, type XmlElement } from '../util/xml.js';

/**
 * ContainerIndex (`_manifest_.cix.xml`, `*.psf.cix.xml`, namespace urn:ContainerIndex; docs/cbs.md):
 * the list of target files a container (CAB, PSF, PSFX) rebuilds, each from one Delta/Source
 * (RAW bytes or a PA30/PA31/PA19 delta, addressed by PSF byte range or CAB member name) and an
 * optional Basis (another File, an external file known by length + hash, or a DeltaBasisSearch Location).
 */

export interface CixHash {
  /** As written (SHA1, SHA256, ...). */
  alg: string;
  /** Lowercase hex. */
  value: string;
}

export interface CixLocation {
  id: number;
  /** e.g. `{windir}\winsxs`. */
  path: string;
  /** The flags attribute is hex without prefix. */
  flags?: number;
}

export interface CixSource {
  /** RAW, PA30, PA31, PA19, or anything else the file says (kept as an open string). */
  type: string;
  /** Byte range in the PSF (PSF containers). */
  offset?: number;
  length?: number;
  /** CAB member name (CAB containers). */
  name?: string;
  hash?: CixHash;
}

export interface CixBasis {
  /** Another File of this index (chains). */
  file?: number;
  /** External basis: its length and hash (found through DeltaBasisSearch, e.g. WinSxS). */
  length?: number;
  hash?: CixHash;
  /** DeltaBasisSearch Location id. */
  loc?: number;
}

export interface CixFile {
  id: number;
  /** Relative path, backslash-separated (`<component>\f\<file>` in PSFX). */
  name: string;
  length: number;
  /** FILETIME as a decimal string (100 ns since 1601); see filetimeToIso. */
  time?: string;
  /** Win32 file attributes. */
  attr?: number;
  hash?: CixHash;
  source?: CixSource;
  basis?: CixBasis;
}

export interface ContainerIndex {
  name: string;
  /** CAB, PSF, PSFX, ... */
  type: string;
  length?: number;
  version?: string;
  description?: string;
  locations: CixLocation[];
  /** In document order. */
  files: CixFile[];
}

const NS = 'urn:ContainerIndex';
const MAX_U64 = (1n << 64n) - 1n;

export { filetimeToIso } from '../util/filetime.js';

class CixReader {
  constructor(readonly file: string | undefined) {}

  fail(message: string, where?: string): FormatError {
    return new FormatError('E_CIX', message, { file: this.file, where });
  }

  /** Non-negative decimal integer that fits a JS number. */
  uint(el: XmlElement, name: string, where: string, required: true): number;
  uint(el: XmlElement, name: string, where: string, required?: boolean): number | undefined;
  uint(el: XmlElement, name: string, where: string, required = false): number | undefined {
    const v = attr(el, name);
    if (v === undefined) {
      if (required) throw this.fail(`${el.name} has no ${name} attribute`, where);
      return undefined;
    }
    if (!/^\d{1,16}$/.test(v.trim())) throw this.fail(`${el.name}@${name} is not a non-negative integer: "${clip(v)}"`, where);
    const n = Number(v.trim());
    if (!Number.isSafeInteger(n)) throw this.fail(`${el.name}@${name} is absurdly large: ${v.trim()}`, where);
    return n;
  }

  hash(el: XmlElement | undefined, where: string): CixHash | undefined {
    if (!el) return undefined;
    const alg = attr(el, 'alg');
    const value = attr(el, 'value');
    if (!alg || value === undefined) throw this.fail('Hash needs alg and value attributes', where);
    const v = value.trim();
    if (!/^[0-9a-fA-F]*$/.test(v) || v.length % 2 !== 0 || v.length > 256) {
      throw this.fail(`Hash@value is not a hex digest: "${clip(v)}"`, where);
    }
    return { alg, value: v.toLowerCase() };
  }
}

function clip(s: string): string {
  return s.length > 40 ? `${s.slice(0, 40)}...` : s;
}

/** Parse a ContainerIndex document. Throws FormatError (naming the file and the File id) on nonsense. */
export function parseContainerIndex(input: string | Uint8Array, file?: string): ContainerIndex {
  const root = parseXml(input, file);
  const r = new CixReader(file);
  // parseXml drops namespace declarations, so the root's local name is what identifies a cix.
  if (root.name !== 'Container') throw r.fail(`root element is <${root.name}>, expected <Container> (${NS})`);

  const cix: ContainerIndex = {
    name: attr(root, 'name') ?? '',
    type: attr(root, 'type') ?? '',
    length: r.uint(root, 'length', 'Container'),
    version: attr(root, 'version'),
    locations: [],
    files: [],
  };
  const desc = child(root, 'Description');
  if (desc) cix.description = desc.text;

  const locIds = new Set<number>();
  for (const search of childrenNamed(root, 'DeltaBasisSearch')) {
    for (const loc of childrenNamed(search, 'Location')) {
      const where = `Location id=${attr(loc, 'id') ?? '?'}`;
      const id = r.uint(loc, 'id', where, true);
      if (locIds.has(id)) throw r.fail(`duplicate Location id ${id}`, where);
      locIds.add(id);
      const flagsText = attr(loc, 'flags');
      let flags: number | undefined;
      if (flagsText !== undefined) {
        if (!/^(0x)?[0-9a-fA-F]{1,8}$/.test(flagsText.trim())) throw r.fail(`Location@flags is not hex: "${clip(flagsText)}"`, where);
        flags = parseInt(flagsText.trim().replace(/^0x/, ''), 16);
      }
      cix.locations.push({ id, path: attr(loc, 'path') ?? '', ...(flags === undefined ? {} : { flags }) });
    }
  }

  const ids = new Set<number>();
  for (const files of childrenNamed(root, 'Files')) {
    for (const el of childrenNamed(files, 'File')) cix.files.push(parseFile(el, r, ids));
  }
  return cix;
}

function parseFile(el: XmlElement, r: CixReader, ids: Set<number>): CixFile {
  const where = `File id=${clip(attr(el, 'id') ?? '?')}`;
  const id = r.uint(el, 'id', where, true);
  if (ids.has(id)) throw r.fail(`duplicate File id ${id}`, where);
  ids.add(id);
  const name = attr(el, 'name');
  if (!name) throw r.fail('File has no name attribute', where);
  const f: CixFile = { id, name, length: r.uint(el, 'length', where, true) };

  const time = attr(el, 'time');
  if (time !== undefined) {
    const t = time.trim();
    if (!/^\d{1,20}$/.test(t) || BigInt(t) > MAX_U64) throw r.fail(`File@time is not a FILETIME: "${clip(time)}"`, where);
    f.time = BigInt(t).toString();
  }
  const a = r.uint(el, 'attr', where);
  if (a !== undefined) {
    if (a > 0xffffffff) throw r.fail(`File@attr is not a 32-bit attribute set: ${a}`, where);
    f.attr = a;
  }
  const h = r.hash(child(el, 'Hash'), `${where}/Hash`);
  if (h) f.hash = h;

  const deltas = childrenNamed(el, 'Delta');
  if (deltas.length > 1) {
    throw new UnsupportedError('E_CIX_MULTI_DELTA', `File has ${deltas.length} Delta elements; only one is supported`, {
      file: r.file,
      where,
    });
  }
  const delta = deltas[0];
  if (delta) {
    const sources = childrenNamed(delta, 'Source');
    if (sources.length > 1) throw r.fail(`Delta has ${sources.length} Source elements, expected one`, where);
    const s = sources[0];
    if (s) {
      const sw = `${where}/Delta/Source`;
      const type = attr(s, 'type');
      if (!type) throw r.fail('Source has no type attribute', sw);
      const src: CixSource = { type: type.trim() };
      const offset = r.uint(s, 'offset', sw);
      const length = r.uint(s, 'length', sw);
      const memberName = attr(s, 'name');
      if (offset !== undefined) src.offset = offset;
      if (length !== undefined) src.length = length;
      if (memberName !== undefined) src.name = memberName;
      if ((offset === undefined) !== (length === undefined)) throw r.fail('Source has only one of offset and length', sw);
      if (offset === undefined && memberName === undefined) throw r.fail('Source has neither offset+length nor name', sw);
      if (offset !== undefined && !Number.isSafeInteger(offset + length!)) throw r.fail('Source range end is absurdly large', sw);
      const sh = r.hash(child(s, 'Hash'), `${sw}/Hash`);
      if (sh) src.hash = sh;
      f.source = src;
    }
    const b = child(delta, 'Basis');
    if (b) {
      const bw = `${where}/Delta/Basis`;
      const basis: CixBasis = {};
      const bf = r.uint(b, 'file', bw);
      const bl = r.uint(b, 'length', bw);
      const loc = r.uint(b, 'loc', bw);
      const bh = r.hash(child(b, 'Hash'), `${bw}/Hash`);
      if (bf !== undefined) basis.file = bf;
      if (bl !== undefined) basis.length = bl;
      if (bh) basis.hash = bh;
      if (loc !== undefined) basis.loc = loc;
      if (bf === undefined && bl === undefined && bh === undefined && loc === undefined) {
        throw r.fail('Basis names no file, length/Hash or loc', bw);
      }
      f.basis = basis;
    }
  }
  return f;
}
