import { FormatError, MsuError } from '../errors.js';
import { ByteReader } from '../util/reader.js';
import { BitReader } from './bits.js';
import { crc32 } from '../util/crc32.js';
import { filetimeToIso } from '../util/filetime.js';

/**
 * Headers of Microsoft delta streams (docs/delta.md): PA30 (msdelta.dll), PA31 (UpdateCompression.dll /
 * dpx.dll) and the legacy PA19 (mspatcha.dll). `parseDeltaStream` reads the header and keeps the buffers
 * after it for applyDelta; `parseDeltaHeader` is the header alone (`msu delta-header`, cix checks).
 *
 * PA30/PA31: magic, FILETIME (u64 LE), then one bitstream (src/delta/bits.ts). PA30 has the
 * DELTA_HEADER_INFO fields inline; PA31 wraps them in a buffer that is itself a bitstream and appends
 * three extension integers and a second hash. No real PA31 sample was at hand to check that layout,
 * and the extension fields' meaning is not public. PA19 (patchapi.h options, Wine mspatcha's header
 * description) is read up to the input file count.
 */

export type DeltaFormat = 'PA30' | 'PA31' | 'PA19';

export interface Pa31Extension {
  /** Three 32-bit integers whose meaning no public source establishes; reported as read. */
  fields: [number, number, number];
  extensionHash: string;
}

export interface Pa19Info {
  /** PATCH_OPTION_* flags (patchapi.h). */
  options: number;
  optionNames: string[];
  /** Present when PATCH_OPTION_RESERVED1 (0x80000000) is set. */
  extraOptions?: number;
  /** Seconds since 1970, present when the 0x00800000 bit is set (its meaning is inverted when decoding). */
  timestamp?: number;
  /** Rebase value, present unless PATCH_OPTION_NO_REBASE. */
  rebase?: number;
  targetCrc32: string;
  inputFileCount: number;
}

export interface DeltaHeader {
  format: DeltaFormat;
  /** Size of the whole input, including a CRC32 prefix. */
  size: number;
  /** The 4-byte little-endian CRC32 of the rest that MSU/PSF delta records may carry before the magic. */
  crcPrefix?: string;
  /** Whether the CRC32 prefix matches the bytes after it (only when a prefix is present). */
  crcOk?: boolean;
  /** Target FILETIME as a decimal count of 100 ns since 1601 (PA30/PA31; PA19 when it stores a timestamp). */
  fileTime?: string;
  fileTimeIso?: string | null;
  /**
   * True once every header field of the format was read. PA30, PA31 and PA19 layouts are all
   * established by public sources, so a header that cannot be read is a DeltaHeaderError instead.
   */
  headerFieldsParsed: boolean;
  fileTypeSet?: number;
  /** Names of the DELTA_FILE_TYPE bits in the set, and the DELTA_FILE_TYPE_SET_* name when it is one. */
  fileTypeSetNames?: string[];
  fileType?: number;
  fileTypeName?: string;
  flags?: number;
  /** DELTA_FLAG_* names (msdelta.h); bits with no name appear as hex. */
  flagNames?: string[];
  targetSize?: number;
  /** ALG_ID of the target hash: 0 none, 0x8001 MD2, 0x8002 MD4, 0x8003 MD5, 0x8004 SHA1, 0x800C SHA-256. */
  hashAlgId?: number;
  hashAlgName?: string;
  /** Target hash, lowercase hex ('' when the delta carries none). */
  targetHash?: string;
  /** DELTA_FILE_TYPE_REVERSE_ANY set: one reversal-data buffer instead of preprocess + patch. */
  reverse?: boolean;
  /** Sizes of the buffers after the header (PA30/PA31), when they could be read. */
  preprocessSize?: number;
  patchSize?: number;
  pa31?: Pa31Extension;
  pa19?: Pa19Info;
  /**
   * Whether `msu delta apply` can apply it: 'yes', or what it needs that this version does not do
   * ('PE transforms', 'reverse delta', 'PA19'): phase 2 of the delta engine (docs/delta.md).
   */
  applicable?: 'yes' | 'PE transforms' | 'reverse delta' | 'PA19';
}

export class DeltaHeaderError extends FormatError {
  constructor(message: string, file?: string, where?: string) {
    super('E_DELTA_HEADER', message, { file, where });
  }
}

const MAGICS: Record<string, DeltaFormat> = { PA30: 'PA30', PA31: 'PA31', PA19: 'PA19' };

/** DELTA_FILE_TYPE_* (msdelta.h). */
export const DELTA_FILE_TYPES: ReadonlyArray<[number, string]> = [
  [0x1, 'RAW'],
  [0x2, 'I386'],
  [0x4, 'IA64'],
  [0x8, 'AMD64'],
  [0x10, 'CLI4_I386'],
  [0x20, 'CLI4_AMD64'],
  [0x40, 'CLI4_ARM'],
  [0x80, 'CLI4_ARM64'],
  [0x100, 'REVERSE_ANY'],
];

const FILE_TYPE_SETS: Record<number, string> = {
  0x01: 'SET_RAW_ONLY',
  0x0f: 'SET_EXECUTABLES_1',
  0x75: 'SET_EXECUTABLES_2',
  0xf5: 'SET_EXECUTABLES_3',
};

/** DELTA_FLAG_* (msdelta.h). */
export const DELTA_FLAGS: ReadonlyArray<[number, string]> = [
  [0x1, 'E8'],
  [0x2, 'MARK'],
  [0x4, 'IMPORTS'],
  [0x8, 'EXPORTS'],
  [0x10, 'RESOURCES'],
  [0x20, 'RELOCS'],
  [0x40, 'I386_SMASHLOCK'],
  [0x80, 'I386_JMPS'],
  [0x100, 'I386_CALLS'],
  [0x200, 'AMD64_DISASM'],
  [0x400, 'AMD64_PDATA'],
  [0x800, 'IA64_DISASM'],
  [0x1000, 'IA64_PDATA'],
  [0x2000, 'UNBIND'],
  [0x4000, 'CLI_DISASM'],
  [0x8000, 'CLI_METADATA'],
  [0x10000, 'HEADERS'],
  [0x20000, 'IGNORE_FILE_SIZE_LIMIT'],
  [0x40000, 'IGNORE_OPTIONS_SIZE_LIMIT'],
  [0x80000, 'ARM_DISASM'],
  [0x100000, 'ARM_PDATA'],
  [0x200000, 'CLI4_METADATA'],
  [0x400000, 'CLI4_DISASM'],
  [0x800000, 'ARM64_DISASM'],
  [0x1000000, 'ARM64_PDATA'],
];

/** ALG_ID values (wincrypt.h) a delta target hash can use. */
export const HASH_ALGS: Record<number, string> = {
  0: 'none',
  0x8001: 'MD2',
  0x8002: 'MD4',
  0x8003: 'MD5',
  0x8004: 'SHA1',
  0x800c: 'SHA256',
  0x800d: 'SHA384',
  0x800e: 'SHA512',
};

/** PATCH_OPTION_* (patchapi.h) as used in PA19 headers. */
const PATCH_OPTIONS: ReadonlyArray<[number, string]> = [
  [0x1, 'USE_LZX_A'],
  [0x2, 'USE_LZX_B'],
  [0x4, 'USE_LZX_LARGE'],
  [0x10000, 'NO_BINDFIX'],
  [0x20000, 'NO_LOCKFIX'],
  [0x40000, 'NO_REBASE'],
  [0x80000, 'FAIL_IF_SAME_FILE'],
  [0x100000, 'FAIL_IF_BIGGER'],
  [0x200000, 'NO_CHECKSUM'],
  [0x400000, 'NO_RESTIMEFIX'],
  [0x800000, 'NO_TIMESTAMP'],
  [0x1000000, 'SIGNATURE_MD5'],
  [0x40000000, 'INTERLEAVE_FILES'],
  [0x80000000, 'RESERVED1'],
];

/** DELTA_MAX_HASH_SIZE is 32 in msdelta.h; SHA-384/512 digests would need 64, so that is the cap. */
const MAX_HASH_SIZE = 64;
const FILETIME_AND_MAGIC = 12;

function bitNames(value: number, table: ReadonlyArray<[number, string]>): string[] {
  const out: string[] = [];
  let rest = BigInt(value);
  for (const [bit, name] of table) {
    if (rest & BigInt(bit)) {
      out.push(name);
      rest &= ~BigInt(bit);
    }
  }
  for (let b = 0n; rest > 0n; b++, rest >>= 1n) if (rest & 1n) out.push(`0x${(1n << b).toString(16)}`);
  return out;
}

const hex = (b: Uint8Array): string => Buffer.from(b.buffer, b.byteOffset, b.length).toString('hex');

/** Parse the header of a PA30/PA31/PA19 delta (optionally preceded by a CRC32). Throws DeltaHeaderError. */
export function parseDeltaHeader(bytes: Uint8Array, file?: string): DeltaHeader {
  return parseDeltaStream(bytes, file).header;
}

/** A parsed PA30/PA31 delta: its header and the buffers after it (PA19 has none). */
export interface DeltaStream {
  header: DeltaHeader;
  /** PE preprocess buffer (empty for RAW deltas). */
  preprocess?: Uint8Array;
  patch?: Uint8Array;
  /** Reverse deltas (FileTypeSet & 0x100): the one reversal-data buffer. */
  reversal?: Uint8Array;
  /** Offset in the input of the patch (or reversal) buffer, for messages. */
  patchOffset?: number;
}

/** Parse a whole PA30/PA31 (or the PA19 header), keeping the buffers. Throws DeltaHeaderError. */
export function parseDeltaStream(bytes: Uint8Array, file?: string): DeltaStream {
  try {
    return parse(bytes, file);
  } catch (err) {
    if (err instanceof DeltaHeaderError) throw err;
    if (err instanceof MsuError) throw new DeltaHeaderError(err.message, file, err.where);
    throw err;
  }
}

function magicAt(bytes: Uint8Array, at: number): DeltaFormat | undefined {
  if (bytes.length < at + 4) return undefined;
  return MAGICS[String.fromCharCode(bytes[at]!, bytes[at + 1]!, bytes[at + 2]!, bytes[at + 3]!)];
}

function parse(bytes: Uint8Array, file?: string): DeltaStream {
  let start = 0;
  let format = magicAt(bytes, 0);
  const out: Partial<DeltaHeader> = { size: bytes.length };
  if (!format) {
    format = magicAt(bytes, 4);
    if (!format) {
      const shown = hex(bytes.subarray(0, Math.min(8, bytes.length)));
      throw new DeltaHeaderError(`not a delta: no PA30/PA31/PA19 magic at offset 0 or 4 (starts ${shown || 'empty'})`, file);
    }
    start = 4;
    const r = new ByteReader(bytes);
    const stored = r.u32('CRC32 prefix');
    out.crcPrefix = stored.toString(16).padStart(8, '0');
    out.crcOk = crc32(bytes.subarray(4)) === stored;
  }
  const body = bytes.subarray(start);
  const header: DeltaHeader = { format, size: bytes.length, headerFieldsParsed: false, ...out };
  if (format === 'PA19') {
    parsePa19(body, start, header, file);
    header.applicable = 'PA19';
    return { header };
  }

  const r = new ByteReader(body, start);
  r.skip(4, 'magic');
  const ft = r.u64('FILETIME');
  header.fileTime = ft.toString();
  header.fileTimeIso = filetimeToIso(ft);

  const outer = new BitReader(body.subarray(FILETIME_AND_MAGIC), `${format} bitstream`, start + FILETIME_AND_MAGIC);
  let fields = outer;
  if (format === 'PA31') {
    const sub = outer.buffer('PA31 header buffer');
    fields = new BitReader(sub, 'PA31 header bitstream', outer.fileOffsetOf(sub));
  }
  header.fileTypeSet = fields.number('FileTypeSet');
  header.fileType = fields.number('FileType');
  header.flags = fields.number('Flags');
  header.targetSize = fields.number('TargetSize');
  header.hashAlgId = fields.number('HashAlgId', 0xffffffff);
  header.targetHash = hex(fields.buffer('TargetHash', MAX_HASH_SIZE));
  if (format === 'PA31') {
    const f: [number, number, number] = [
      fields.number('PA31 extension field 1', 0xffffffff),
      fields.number('PA31 extension field 2', 0xffffffff),
      fields.number('PA31 extension field 3', 0xffffffff),
    ];
    header.pa31 = { fields: f, extensionHash: hex(fields.buffer('PA31 extension hash', MAX_HASH_SIZE)) };
  }

  checkFields(header, file);
  header.fileTypeSetNames = bitNames(header.fileTypeSet, DELTA_FILE_TYPES);
  const setName = FILE_TYPE_SETS[header.fileTypeSet];
  if (setName) header.fileTypeSetNames.unshift(setName);
  header.fileTypeName = bitNames(header.fileType, DELTA_FILE_TYPES).join('|') || '0';
  header.flagNames = bitNames(header.flags, DELTA_FLAGS);
  header.hashAlgName = HASH_ALGS[header.hashAlgId] ?? `0x${header.hashAlgId.toString(16)}`;
  header.reverse = (header.fileTypeSet & 0x100) !== 0;
  header.headerFieldsParsed = true;

  const stream: DeltaStream = { header };
  if (header.reverse) {
    stream.reversal = outer.buffer('reversal data');
    stream.patchOffset = outer.fileOffsetOf(stream.reversal);
    header.patchSize = stream.reversal.length;
  } else {
    stream.preprocess = outer.buffer('preprocess buffer');
    stream.patch = outer.buffer('patch buffer');
    stream.patchOffset = outer.fileOffsetOf(stream.patch);
    header.preprocessSize = stream.preprocess.length;
    header.patchSize = stream.patch.length;
  }
  const trailing = outer.bytesLeft();
  if (trailing > 0) throw new DeltaHeaderError(`${trailing} bytes follow the last buffer of the ${format} stream`, file);
  header.applicable = header.reverse ? 'reverse delta'
    : header.fileType !== 1 && header.preprocessSize! > 0 ? 'PE transforms'
    : 'yes';
  return stream;
}

const HASH_SIZES: Record<number, number> = { 0: 0, 0x8001: 16, 0x8002: 16, 0x8003: 16, 0x8004: 20, 0x800c: 32, 0x800d: 48, 0x800e: 64 };
const KNOWN_FILE_TYPES = 0x1ff;

/** Values msdelta itself would refuse: they mean the stream is corrupt, not merely unusual. */
function checkFields(h: DeltaHeader, file?: string): void {
  const fail = (m: string): DeltaHeaderError => new DeltaHeaderError(m, file);
  const ft = h.fileType!;
  if (ft === 0 || ft > KNOWN_FILE_TYPES || (ft & (ft - 1)) !== 0) {
    throw fail(`FileType 0x${ft.toString(16)} is not a single DELTA_FILE_TYPE`);
  }
  if (h.fileTypeSet! === 0 || h.fileTypeSet! > KNOWN_FILE_TYPES) {
    throw fail(`FileTypeSet 0x${h.fileTypeSet!.toString(16)} has bits outside the DELTA_FILE_TYPE values`);
  }
  const want = HASH_SIZES[h.hashAlgId!];
  if (want === undefined) throw fail(`unknown TargetHashAlgId 0x${h.hashAlgId!.toString(16)}`);
  const got = h.targetHash!.length / 2;
  if (got !== want) {
    throw fail(`TargetHash is ${got} bytes but ${HASH_ALGS[h.hashAlgId!]} (0x${h.hashAlgId!.toString(16)}) needs ${want}`);
  }
}

/** Unsigned variable-length integer of PA19: 7 bits per byte, the last byte has bit 7 set, at most 9 bytes. */
function uvli(r: ByteReader, what: string): number {
  let v = 0n;
  for (let i = 0; i < 9; i++) {
    const b = r.u8(what);
    v |= BigInt(b & 0x7f) << BigInt(7 * i);
    if (b & 0x80) {
      if (v > BigInt(Number.MAX_SAFE_INTEGER)) {
        throw new DeltaHeaderError(`${what} is absurdly large (${v})`, undefined, `offset ${r.base + r.pos}`);
      }
      return Number(v);
    }
  }
  throw new DeltaHeaderError(`invalid ${what}: longer than 9 bytes`, undefined, `offset ${r.base + r.pos}`);
}

/** PA19 header as far as patchapi.h and Wine's mspatcha establish it (up to the input file count). */
function parsePa19(body: Uint8Array, base: number, header: DeltaHeader, file?: string): void {
  const r = new ByteReader(body, base);
  r.skip(4, 'magic');
  try {
    const options = r.u32('PA19 options');
    const info: Pa19Info = { options, optionNames: bitNames(options, PATCH_OPTIONS), targetCrc32: '', inputFileCount: 0 };
    if (options & 0x80000000) info.extraOptions = r.u32('PA19 extra options');
    if (options & 0x00800000) {
      info.timestamp = r.u32('PA19 timestamp');
      const ft = (BigInt(info.timestamp) + 11644473600n) * 10000000n;
      header.fileTime = ft.toString();
      header.fileTimeIso = filetimeToIso(ft);
    }
    if (!(options & 0x00040000)) info.rebase = uvli(r, 'PA19 rebase value');
    header.targetSize = uvli(r, 'PA19 target size');
    info.targetCrc32 = r.u32('PA19 target CRC32').toString(16).padStart(8, '0');
    info.inputFileCount = r.u8('PA19 input file count');
    if (info.inputFileCount === 0) throw new DeltaHeaderError('PA19 declares no input file (at least 1 is required)', file);
    header.pa19 = info;
    header.headerFieldsParsed = true;
  } catch (err) {
    if (err instanceof MsuError) throw new DeltaHeaderError(err.message, file, err.where);
    throw err;
  }
}
