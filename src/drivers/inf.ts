/**
 * INF (Windows setup information) parser: bytes in, typed model out.
 *
 * Syntax facts (Microsoft "General Syntax Rules for INF Files", "INF Strings Section"):
 * sections are `[name]`, names case-insensitive, a repeated section is merged with the
 * first; `;` starts a comment unless inside a quoted string; `\` at the end of a line
 * continues it; values are comma-separated; `"..."` quotes a field and `""` inside it is
 * a literal quote; `%strkey%` is replaced by the [Strings] value; `%%` is a literal `%`.
 * Model facts: "INF Version/Manufacturer/Models/DDInstall/SourceDisksNames/
 * SourceDisksFiles/CopyFiles/AddService/DestinationDirs" reference pages.
 */
import { FormatError } from '../errors.js';

export class InfError extends FormatError {
  readonly line: number;
  constructor(message: string, file: string | undefined, line: number) {
    super('E_INF', message, { file, where: `line ${line}` });
    this.line = line;
  }
}

export type InfEncoding = 'utf-16le' | 'utf-16be' | 'utf-8' | 'latin1';

/** A non-fatal problem found while parsing (the INF is still usable). */
export interface InfIssue {
  level: 'warning' | 'info';
  code: string;
  message: string;
  file?: string;
  line: number;
}

/** One line of a section: `key = value[,value...]` or a bare value list. */
export interface InfEntry {
  line: number;
  /** Key with %strkey% substituted and quotes removed; undefined for a bare value list. */
  key?: string;
  /** Key as written. */
  rawKey?: string;
  /** Fields with %strkey% substituted and quotes removed. */
  fields: string[];
  /** Fields as written (trimmed, quotes kept). */
  rawFields: string[];
}

export interface InfSection {
  /** Name as first written. */
  name: string;
  line: number;
  entries: InfEntry[];
}

export interface InfDriverVer {
  /** ISO date (YYYY-MM-DD) when the mm/dd/yyyy date is valid. */
  date?: string;
  rawDate: string;
  version?: string;
  line: number;
}

export interface InfVersion {
  signature?: string;
  class?: string;
  classGuid?: string;
  provider?: string;
  driverVer?: InfDriverVer;
  /** `CatalogFile` (undecorated). */
  catalogFile?: string;
  /** Decorated forms, key lowercased: `catalogfile.ntamd64` → file. */
  catalogFiles: Record<string, string>;
  pnpLockdown?: number;
}

/** Architectures a TargetOSVersion decoration can name. */
export type InfArch = 'x86' | 'amd64' | 'arm64' | 'arm' | 'ia64';

/** A parsed TargetOSVersion decoration: nt[Architecture][.Major[.Minor[.ProductType[.SuiteMask[.Build]]]]]. */
export interface InfTargetOs {
  decoration: string;
  /** Undefined when the decoration names no architecture (plain `NT`, `NT.6.0`). */
  arch?: InfArch;
  /** Build-time token in place of the architecture (`$ARCH$` in .inx templates). */
  archToken?: string;
  osMajor?: number;
  osMinor?: number;
  productType?: number;
  suiteMask?: number;
  buildNumber?: number;
}

export interface InfManufacturer {
  name: string;
  modelsSection: string;
  targets: InfTargetOs[];
  line: number;
}

/** One device line of a Models section. */
export interface InfModel {
  description: string;
  installSection: string;
  hardwareId?: string;
  compatibleIds: string[];
  /** Models section the line is in (e.g. `Standard.NTamd64`). */
  modelsSection: string;
  manufacturer: string;
  /** The decoration that selected this section; undefined for the undecorated section. */
  target?: InfTargetOs;
  line: number;
}

export interface InfSourceDisk {
  diskId: string;
  description: string;
  tagFile?: string;
  path?: string;
  /** From a `.x86`/`.amd64`/`.arm64` section suffix. */
  arch?: string;
  line: number;
}

export interface InfSourceFile {
  fileName: string;
  diskId: string;
  subdir?: string;
  arch?: string;
  line: number;
}

export interface InfCopyFile {
  /** Name at the destination. */
  destination: string;
  /** Name in the package (defaults to the destination name). */
  source: string;
  /** File-list section it came from, or undefined for `CopyFiles=@file`. */
  section?: string;
  line: number;
}

export interface InfServiceInstall {
  name: string;
  flags?: number;
  /** Section holding ServiceType/StartType/...; undefined for a null service. */
  section?: string;
  serviceType?: number;
  startType?: number;
  errorControl?: number;
  serviceBinary?: string;
  loadOrderGroup?: string;
  displayName?: string;
  line: number;
}

/** A DDInstall section as reached from a model line for one architecture. */
export interface InfDdInstall {
  /** Actual section name used, e.g. `scsi_inst` or `VirtioSerial_Device.NT`. */
  section: string;
  /** Name as written in the Models line. */
  installName: string;
  copyFiles: InfCopyFile[];
  /** CopyFiles of the matching `.CoInstallers` section. */
  coInstallerFiles: InfCopyFile[];
  services: InfServiceInstall[];
  /** `Include=` system INFs this section pulls in. */
  includes: string[];
  /** Architectures whose Models lines reach this section (an `.NTarm` section serves ARM32 only). */
  archs: InfArch[];
  line: number;
}

export interface InfDestinationDir {
  dirid: string;
  subdir?: string;
  line: number;
}

export interface Inf {
  file?: string;
  encoding: InfEncoding;
  /** True for .inx templates or when build-time tokens are present. */
  isTemplate: boolean;
  /** Build-time tokens found, sorted, kept verbatim in values. */
  templateTokens: string[];
  sections: InfSection[];
  /** [Strings] (plus locale fallbacks), keys lowercased. */
  strings: Record<string, string>;
  version: InfVersion;
  manufacturers: InfManufacturer[];
  models: InfModel[];
  sourceDisksNames: InfSourceDisk[];
  sourceDisksFiles: InfSourceFile[];
  destinationDirs: Record<string, InfDestinationDir>;
  /** DDInstall sections reached from the Models lines, in first-seen order. */
  installs: InfDdInstall[];
  issues: InfIssue[];
}

export interface ParseInfOptions {
  /** Language id suffix of a `[Strings.<locale>]` section to prefer, e.g. `0409`. */
  locale?: string;
}

const KNOWN_ARCHS: readonly InfArch[] = ['x86', 'amd64', 'arm64', 'arm', 'ia64'];

// Build-time tokens of virtio-win style .inx templates; `$WINDOWS NT$`/`$CHICAGO$` are real signatures.
const TEMPLATE_TOKEN = /_?INX_[A-Z0-9_]*[A-Z0-9](?![a-z])|\$[A-Z][A-Z0-9_]*\$|\b_VERSION_\b/g;
const TEMPLATE_KEY = /^(_?INX_|\$)/i;
const SIGNATURES = new Set(['$CHICAGO$', '$WINDOWS NT$', '$WINDOWS 95$']);

export function decodeInf(bytes: Uint8Array): { text: string; encoding: InfEncoding } {
  const b0 = bytes[0], b1 = bytes[1];
  if (b0 === 0xff && b1 === 0xfe) return { text: new TextDecoder('utf-16le').decode(bytes.subarray(2)), encoding: 'utf-16le' };
  if (b0 === 0xfe && b1 === 0xff) return { text: new TextDecoder('utf-16be').decode(bytes.subarray(2)), encoding: 'utf-16be' };
  if (b0 === 0xef && b1 === 0xbb && bytes[2] === 0xbf) {
    return { text: new TextDecoder('utf-8').decode(bytes.subarray(3)), encoding: 'utf-8' };
  }
  // UTF-16LE without a BOM still shows as ASCII/NUL pairs.
  if (bytes.length >= 4 && b0 !== 0 && b1 === 0 && bytes[2] !== 0 && bytes[3] === 0) {
    return { text: new TextDecoder('utf-16le').decode(bytes), encoding: 'utf-16le' };
  }
  try {
    return { text: new TextDecoder('utf-8', { fatal: true }).decode(bytes), encoding: 'utf-8' };
  } catch {
    // Not UTF-8: an "ANSI" INF; latin1 keeps every byte and never fails.
    return { text: new TextDecoder('latin1').decode(bytes), encoding: 'latin1' };
  }
}

/**
 * Input limits. SetupAPI itself caps a string built from %strkey% tokens at 4096 characters
 * (SetupGetStringField remarks), so a longer expansion is never a working INF; the byte and
 * line caps keep hostile input linear and bounded (the largest real INFs are a few MiB and
 * well under 500,000 lines).
 */
export const MAX_INF_BYTES = 16 * 1024 * 1024;
export const MAX_INF_LINES = 500_000;
export const MAX_INF_FIELDS = 2_000_000;
export const MAX_EXPANDED_CHARS = 4096;

/**
 * Next index of `ch` at or after `from`, remembering the last answer so that a scan over a
 * line stays linear (indexOf from every position would be quadratic on a hostile line).
 */
function seeker(text: string, ch: string): (from: number) => number {
  let at = -2;
  return (from) => {
    if (at === -1 || (at >= from && at !== -2)) return at;
    at = text.indexOf(ch, from);
    return at;
  };
}

/** Strip a comment (outside quotes) and report whether a quote was left open. */
function stripComment(text: string): { code: string; openQuote: boolean } {
  const nextQuote = seeker(text, '"');
  const nextSemi = seeker(text, ';');
  let inQuote = false;
  let i = 0;
  for (;;) {
    const q = nextQuote(i);
    const semi = nextSemi(i);
    if (!inQuote && semi >= 0 && (q < 0 || semi < q)) return { code: text.slice(0, semi), openQuote: false };
    if (q < 0) return { code: text, openQuote: inQuote };
    inQuote = !inQuote; // `""` toggles twice: stays consistent
    i = q + 1;
  }
}

/** Indexes of the separators `sep` outside quotes (one linear pass), at most `max` of them. */
function unquotedIndexes(text: string, sep: string, first: boolean, max = Infinity): number[] {
  const out: number[] = [];
  const nextQuote = seeker(text, '"');
  const nextSep = seeker(text, sep);
  let inQuote = false;
  let i = 0;
  for (;;) {
    const q = nextQuote(i);
    const c = nextSep(i);
    if (c < 0) return out;
    if (q >= 0 && q < c) {
      inQuote = !inQuote;
      i = q + 1;
      continue;
    }
    if (!inQuote) {
      out.push(c);
      if (first || out.length > max) return out;
    }
    i = c + 1;
  }
}

/** Split on commas outside quotes; fields trimmed, quotes kept. Undefined when there are more than `max` fields. */
function splitFields(text: string, max = Infinity): string[] | undefined {
  const fields: string[] = [];
  let start = 0;
  const commas = unquotedIndexes(text, ',', false, max);
  if (commas.length >= max) return undefined;
  for (const c of commas) {
    fields.push(text.slice(start, c).trim());
    start = c + 1;
  }
  fields.push(text.slice(start).trim());
  return fields;
}

/** Index of the first `=` outside quotes, or -1. */
function findEquals(text: string): number {
  return unquotedIndexes(text, '=', true)[0] ?? -1;
}

/** Remove quoting: `"a""b"` → `a"b`; unquoted text stays as is. */
export function unquote(field: string): string {
  if (!field.includes('"')) return field;
  const parts: string[] = [];
  let inQuote = false;
  let i = 0;
  for (;;) {
    const q = field.indexOf('"', i);
    if (q < 0) {
      parts.push(field.slice(i));
      return parts.join('');
    }
    parts.push(field.slice(i, q));
    if (inQuote && field[q + 1] === '"') {
      parts.push('"');
      i = q + 2;
    } else {
      inQuote = !inQuote;
      i = q + 1;
    }
  }
}

function parseNumber(s: string | undefined): number | undefined {
  if (s === undefined) return undefined;
  const t = s.trim();
  if (/^0x[0-9a-f]+$/i.test(t)) return parseInt(t.slice(2), 16);
  if (/^\d+$/.test(t)) return parseInt(t, 10);
  return undefined;
}

const lc = (s: string): string => s.toLowerCase();

export function parseTargetOs(decoration: string): InfTargetOs | undefined {
  const m = /^nt([a-z0-9$_]*)((?:\.[^.]*)*)$/i.exec(decoration.trim());
  if (!m) return undefined;
  const archText = m[1] ?? '';
  const t: InfTargetOs = { decoration: decoration.trim() };
  if (archText !== '') {
    const a = lc(archText) as InfArch;
    if (KNOWN_ARCHS.includes(a)) t.arch = a;
    else if (archText.includes('$')) t.archToken = archText;
    else return undefined;
  }
  const parts = (m[2] ?? '').split('.').slice(1);
  t.osMajor = parseNumber(parts[0]);
  t.osMinor = parseNumber(parts[1]);
  t.productType = parseNumber(parts[2]);
  t.suiteMask = parseNumber(parts[3]);
  t.buildNumber = parseNumber(parts[4]);
  for (const k of ['osMajor', 'osMinor', 'productType', 'suiteMask', 'buildNumber'] as const) {
    if (t[k] === undefined) delete t[k];
  }
  return t;
}

/** Physical line breaks: CRLF, LF or CR. Yields [start, end) of each line without building an array. */
function* physicalLines(text: string): Generator<[number, number]> {
  let start = 0;
  const re = /\r\n|\n|\r/g;
  let m: RegExpExecArray | null;
  while ((m = re.exec(text))) {
    yield [start, m.index];
    start = m.index + m[0].length;
  }
  yield [start, text.length];
}

/**
 * Parse INF bytes. Throws InfError for broken syntax and for input over the limits above
 * (MAX_INF_BYTES, MAX_INF_LINES, MAX_INF_FIELDS, a field expanding past MAX_EXPANDED_CHARS).
 */
export function parseInf(bytes: Uint8Array, file?: string, opts: ParseInfOptions = {}): Inf {
  if (bytes.length > MAX_INF_BYTES) {
    throw new InfError(`INF is ${bytes.length} bytes; refusing anything over ${MAX_INF_BYTES} (${MAX_INF_BYTES / 1024 / 1024} MiB)`, file, 1);
  }
  const { text, encoding } = decodeInf(bytes);
  const issues: InfIssue[] = [];
  const warn = (code: string, message: string, line: number): void => {
    issues.push({ level: 'warning', code, message, file, line });
  };

  // Pass 1: logical lines (comments removed, `\` continuations joined) into sections of raw entries.
  const byName = new Map<string, InfSection>();
  const order: InfSection[] = [];
  let current: InfSection | undefined;
  let outsideReported = false;
  const tokens = new Set<string>();
  let fieldCount = 0;
  const addLine = (line: number, code: string): void => {
    const t = code.trim();
    if (t === '') return;
    if (t.startsWith('[')) {
      const close = t.indexOf(']');
      if (close < 0) throw new InfError(`unterminated section header ${JSON.stringify(t.length > 80 ? t.slice(0, 80) + '…' : t)}`, file, line);
      const name = t.slice(1, close).trim();
      if (t.slice(close + 1).trim() !== '') warn('INF_TEXT_AFTER_SECTION', `text after section header [${name}] is ignored`, line);
      const key = lc(name);
      current = byName.get(key);
      if (!current) {
        current = { name, line, entries: [] };
        byName.set(key, current);
        order.push(current);
      }
      return;
    }
    for (const m of t.matchAll(TEMPLATE_TOKEN)) if (!SIGNATURES.has(m[0].toUpperCase())) tokens.add(m[0]);
    if (!current) {
      if (!outsideReported) warn('INF_OUTSIDE_SECTION', 'text before the first section header is ignored', line);
      outsideReported = true;
      return;
    }
    const eq = findEquals(t);
    // The budget is checked while splitting, so one huge line never builds its fields first.
    const rawFields = splitFields(eq >= 0 ? t.slice(eq + 1) : t, MAX_INF_FIELDS - fieldCount);
    if (rawFields === undefined || (fieldCount += rawFields.length + 1) > MAX_INF_FIELDS) {
      throw new InfError(`more than ${MAX_INF_FIELDS} values; refusing the INF`, file, line);
    }
    // `fields` is filled in pass 2, once [Strings] is known.
    if (eq >= 0) current.entries.push({ line, rawKey: t.slice(0, eq).trim(), fields: [], rawFields });
    else current.entries.push({ line, fields: [], rawFields });
  };
  let n = 0;
  let pending: { line: number; parts: string[] } | undefined;
  for (const [s, e] of physicalLines(text)) {
    n++;
    if (n > MAX_INF_LINES) throw new InfError(`more than ${MAX_INF_LINES} lines; refusing the INF`, file, n);
    const { code, openQuote } = stripComment(text.slice(s, e));
    if (openQuote) throw new InfError('unterminated quoted string', file, n);
    let body = code.trimEnd();
    const continues = body.endsWith('\\') && !/^\s*\[/.test(body);
    if (continues) body = body.slice(0, -1);
    if (pending) pending.parts.push(body.trim());
    else pending = { line: n, parts: [body] };
    if (!continues) {
      addLine(pending.line, pending.parts.join(' '));
      pending = undefined;
    }
  }
  if (pending) addLine(pending.line, pending.parts.join(' '));
  const isTemplate = tokens.size > 0 || /\.inx$/i.test(file ?? '');

  // Pass 2: strings. [Strings] first, then the chosen locale overrides, then other locales fill gaps.
  const strings: Record<string, string> = Object.create(null) as Record<string, string>;
  const stringSections = order.filter((s) => /^strings(\.|$)/i.test(s.name));
  const base = stringSections.filter((s) => lc(s.name) === 'strings');
  const preferred = opts.locale ? stringSections.filter((s) => lc(s.name) === `strings.${lc(opts.locale!)}`) : [];
  const others = stringSections.filter((s) => !base.includes(s) && !preferred.includes(s));
  const fill = (secs: InfSection[], override: boolean): void => {
    for (const s of secs) {
      for (const e of s.entries) {
        if (e.rawKey === undefined) continue;
        const k = lc(unquote(e.rawKey));
        if (!override && k in strings) continue;
        // The whole value is one string: commas inside it are text, not separators.
        strings[k] = unquote(e.rawFields.join(',')).trim();
      }
    }
  };
  fill(base, true);
  fill(preferred, true);
  fill(others, false);

  // An unknown key is reported once, at its first use: a hostile INF cannot multiply warnings.
  const unknownSeen = new Set<string>();
  const lookup = (key: string, whole: string, line: number): string => {
    if (key === '') return '%';
    const v = strings[lc(key)];
    if (v !== undefined) return v;
    // %12% style DIRIDs and template tokens are not string keys.
    if (/^\d+$/.test(key)) return whole;
    if (isTemplate && TEMPLATE_KEY.test(key)) return whole;
    if (!unknownSeen.has(lc(key))) {
      unknownSeen.add(lc(key));
      warn('INF_UNKNOWN_STRKEY', `%${key}% is not defined in [Strings]`, line);
    }
    return whole;
  };
  // Quotes and %strkey% in one pass: a substituted value is text, never re-read for quotes.
  // Pieces are collected and joined once, and the length is checked before each piece is kept.
  const expand = (f: string, line: number): string => {
    if (!f.includes('%') && !f.includes('"')) return f;
    const limit = Math.max(MAX_EXPANDED_CHARS, f.length);
    // Pieces are joined 1024 at a time into flat chunks: a field of millions of references
    // costs about its own length in memory, not a string object per piece.
    const chunks: string[] = [];
    let parts: string[] = [];
    let len = 0;
    const put = (piece: string): void => {
      len += piece.length;
      if (len > limit) {
        throw new InfError(`%strkey% substitution makes a value longer than ${MAX_EXPANDED_CHARS} characters, the SetupAPI limit`, file, line);
      }
      parts.push(piece);
      if (parts.length === 1024) {
        chunks.push(parts.join(''));
        parts = [];
      }
    };
    let inQuote = false;
    let i = 0;
    while (i < f.length) {
      let j = i;
      while (j < f.length && f.charCodeAt(j) !== 0x22 && f.charCodeAt(j) !== 0x25) j++;
      if (j > i) put(f.slice(i, j));
      if (j >= f.length) break;
      if (f[j] === '"') {
        if (inQuote && f[j + 1] === '"') {
          put('"');
          i = j + 2;
        } else {
          inQuote = !inQuote;
          i = j + 1;
        }
        continue;
      }
      const k = f.indexOf('%', j + 1);
      if (k < 0) {
        put('%');
        i = j + 1;
        continue;
      }
      put(lookup(f.slice(j + 1, k), f.slice(j, k + 1), line));
      i = k + 1;
    }
    chunks.push(parts.join(''));
    return chunks.join('');
  };

  for (const s of order) {
    const isStrings = stringSections.includes(s);
    for (const entry of s.entries) {
      const fields = isStrings ? entry.rawFields.map(unquote) : entry.rawFields.map((f) => expand(f, entry.line));
      // Unchanged fields share the raw array: half the memory for plain INFs.
      entry.fields = fields.every((f, i) => f === entry.rawFields[i]) ? entry.rawFields : fields;
      if (entry.rawKey !== undefined) entry.key = isStrings ? unquote(entry.rawKey) : expand(entry.rawKey, entry.line);
    }
  }
  const sections = order;

  const inf: Inf = {
    file,
    encoding,
    isTemplate,
    templateTokens: [...tokens].sort(),
    sections,
    strings: { ...strings },
    version: { catalogFiles: {} },
    manufacturers: [],
    models: [],
    sourceDisksNames: [],
    sourceDisksFiles: [],
    destinationDirs: {},
    installs: [],
    issues,
  };
  buildModel(inf, byName, warn);
  return inf;
}

export function findSection(inf: Inf, name: string): InfSection | undefined {
  const k = lc(name);
  return inf.sections.find((s) => lc(s.name) === k);
}

/** Value of the first `key = ...` entry (first field). */
function value(sec: InfSection | undefined, key: string): { v: string; line: number } | undefined {
  const e = sec?.entries.find((x) => x.key !== undefined && lc(x.key) === lc(key));
  return e ? { v: e.fields.join(','), line: e.line } : undefined;
}

type Warn = (code: string, message: string, line: number) => void;

function buildModel(inf: Inf, byName: Map<string, InfSection>, warn: Warn): void {
  const sec = (n: string): InfSection | undefined => byName.get(lc(n));

  // [Version]
  const ver = sec('Version');
  if (!ver) warn('INF_NO_VERSION', 'no [Version] section', 1);
  const v = inf.version;
  for (const e of ver?.entries ?? []) {
    if (e.key === undefined) continue;
    const k = lc(e.key);
    const val = e.fields.join(',');
    if (k === 'signature') v.signature = val;
    else if (k === 'class') v.class = val;
    else if (k === 'classguid') v.classGuid = val;
    else if (k === 'provider') v.provider = val;
    else if (k === 'pnplockdown') v.pnpLockdown = parseNumber(val);
    else if (k === 'catalogfile') v.catalogFile = val;
    else if (k.startsWith('catalogfile.')) v.catalogFiles[k] = val;
    else if (k === 'driverver') {
      const rawDate = e.fields[0] ?? '';
      const dv: InfDriverVer = { rawDate, line: e.line };
      const m = /^(\d{1,2})\/(\d{1,2})\/(\d{4})$/.exec(rawDate);
      if (m && +m[1]! >= 1 && +m[1]! <= 12 && +m[2]! >= 1 && +m[2]! <= 31) {
        dv.date = `${m[3]}-${m[1]!.padStart(2, '0')}-${m[2]!.padStart(2, '0')}`;
      } else warn('INF_BAD_DRIVERVER', `DriverVer date ${JSON.stringify(rawDate)} is not mm/dd/yyyy`, e.line);
      if (e.fields[1]) dv.version = e.fields[1];
      v.driverVer = dv;
    }
  }

  // [DestinationDirs]
  for (const e of sec('DestinationDirs')?.entries ?? []) {
    if (e.key === undefined) continue;
    inf.destinationDirs[lc(e.key)] = { dirid: e.fields[0] ?? '', ...(e.fields[1] ? { subdir: e.fields[1] } : {}), line: e.line };
  }

  // [SourceDisksNames(.arch)] / [SourceDisksFiles(.arch)]
  for (const s of inf.sections) {
    const m = /^(sourcedisksnames|sourcedisksfiles)(?:\.(\w+))?$/i.exec(s.name);
    if (!m) continue;
    const arch = m[2] ? lc(m[2]) : undefined;
    for (const e of s.entries) {
      if (lc(m[1]!) === 'sourcedisksnames') {
        if (e.key === undefined) continue;
        inf.sourceDisksNames.push({
          diskId: e.key,
          description: e.fields[0] ?? '',
          ...(e.fields[1] ? { tagFile: e.fields[1] } : {}),
          ...(e.fields[3] ? { path: e.fields[3] } : {}),
          ...(arch ? { arch } : {}),
          line: e.line,
        });
      } else {
        const fileName = e.key ?? e.fields[0] ?? '';
        if (fileName === '') continue;
        inf.sourceDisksFiles.push({
          fileName,
          diskId: e.key !== undefined ? (e.fields[0] ?? '') : '',
          ...(e.key !== undefined && e.fields[1] ? { subdir: e.fields[1] } : {}),
          ...(arch ? { arch } : {}),
          line: e.line,
        });
      }
    }
  }

  // [Manufacturer] → Models sections → device lines.
  const mfgSec = sec('Manufacturer');
  const installSeen = new Map<string, InfDdInstall>();
  for (const e of mfgSec?.entries ?? []) {
    const name = e.key ?? e.fields[0] ?? '';
    const modelsSection = e.key !== undefined ? (e.fields[0] ?? '') : name;
    const targets: InfTargetOs[] = [];
    for (const d of e.key !== undefined ? e.fields.slice(1) : []) {
      if (d === '') continue;
      const t = parseTargetOs(d);
      if (t) targets.push(t);
      else warn('INF_BAD_DECORATION', `TargetOSVersion decoration ${JSON.stringify(d)} is not nt[Architecture][.Major[.Minor...]]`, e.line);
    }
    inf.manufacturers.push({ name, modelsSection, targets, line: e.line });
    const wanted: Array<{ section: string; target?: InfTargetOs; required: boolean }> = [
      // Undecorated section: used when no decoration applies (pre-XP, or x86).
      { section: modelsSection, required: targets.length === 0 },
      ...targets.map((t) => ({ section: `${modelsSection}.${t.decoration}`, target: t, required: true })),
    ];
    for (const w of wanted) {
      const ms = sec(w.section);
      if (!ms) {
        if (w.required) warn('INF_MISSING_SECTION', `Models section [${w.section}] named by [Manufacturer] does not exist`, e.line);
        continue;
      }
      for (const me of ms.entries) {
        const installSection = me.fields[0] ?? '';
        const model: InfModel = {
          description: me.key ?? '',
          installSection,
          ...(me.fields[1] ? { hardwareId: me.fields[1] } : {}),
          compatibleIds: me.fields.slice(2).filter((x) => x !== ''),
          modelsSection: ms.name,
          manufacturer: name,
          ...(w.target ? { target: w.target } : {}),
          line: me.line,
        };
        inf.models.push(model);
        for (const arch of modelArchs(model)) {
          const dd = resolveDdInstall(inf, installSection, arch);
          if (!dd) {
            warn('INF_MISSING_SECTION', `install section [${installSection}] of ${model.hardwareId ?? model.description} does not exist`, me.line);
            continue;
          }
          let seen = installSeen.get(lc(dd));
          if (!seen) installSeen.set(lc(dd), (seen = readDdInstall(inf, dd, installSection, warn)));
          if (!seen.archs.includes(arch)) seen.archs.push(arch);
        }
      }
    }
  }
  inf.installs = [...installSeen.values()];
  for (const dd of inf.installs) dd.archs = KNOWN_ARCHS.filter((a) => dd.archs.includes(a));
}

/**
 * Architectures a model line applies to. Since Windows Server 2003 SP1, non-x86 platforms
 * need an architecture decoration (INF Manufacturer section); an undecorated section or a
 * plain `NT` decoration therefore serves x86 only. A template token counts as every arch.
 */
export function modelArchs(model: InfModel): InfArch[] {
  const t = model.target;
  if (!t || (!t.arch && !t.archToken)) return ['x86'];
  if (t.archToken) return ['x86', 'amd64', 'arm64'];
  return [t.arch!];
}

/** DDInstall section Windows picks for an architecture: name.NT<arch>, then name.NT, then name. */
export function resolveDdInstall(inf: Inf, installName: string, arch: InfArch): string | undefined {
  for (const cand of [`${installName}.NT${arch}`, `${installName}.NT`, installName]) {
    const s = findSection(inf, cand);
    if (s) return s.name;
  }
  return undefined;
}

function copyFilesOf(inf: Inf, sectionName: string, warn: Warn): InfCopyFile[] {
  const out: InfCopyFile[] = [];
  const s = findSection(inf, sectionName);
  for (const e of s?.entries ?? []) {
    if (e.key === undefined || lc(e.key) !== 'copyfiles') continue;
    for (const f of e.fields) {
      if (f === '') continue;
      if (f.startsWith('@')) {
        const name = f.slice(1).trim();
        out.push({ destination: name, source: name, line: e.line });
        continue;
      }
      const list = findSection(inf, f);
      if (!list) {
        warn('INF_MISSING_SECTION', `CopyFiles section [${f}] does not exist`, e.line);
        continue;
      }
      for (const fe of list.entries) {
        // destination-file-name[,source-file-name][,temporary-file-name][,flag]
        const all = fe.key !== undefined ? [fe.key, ...fe.fields] : fe.fields;
        const destination = all[0] ?? '';
        if (destination === '') continue;
        out.push({ destination, source: all[1] ? all[1] : destination, section: list.name, line: fe.line });
      }
    }
  }
  return out;
}

function readDdInstall(inf: Inf, section: string, installName: string, warn: Warn): InfDdInstall {
  const s = findSection(inf, section)!;
  const includes: string[] = [];
  for (const e of s.entries) if (e.key !== undefined && lc(e.key) === 'include') includes.push(...e.fields.filter((x) => x));
  const services: InfServiceInstall[] = [];
  for (const e of findSection(inf, `${section}.Services`)?.entries ?? []) {
    if (e.key === undefined || lc(e.key) !== 'addservice') continue;
    // AddService=ServiceName,[flags],service-install-section[,event-log-install-section[,...]]
    const svc: InfServiceInstall = { name: e.fields[0] ?? '', line: e.line };
    const flags = parseNumber(e.fields[1]);
    if (flags !== undefined) svc.flags = flags;
    const instName = e.fields[2];
    if (instName) {
      svc.section = instName;
      const inst = findSection(inf, instName);
      if (!inst) warn('INF_MISSING_SECTION', `service install section [${instName}] does not exist`, e.line);
      const get = (k: string): string | undefined => value(inst, k)?.v;
      const st = get('ServiceType'), sta = get('StartType'), ec = get('ErrorControl');
      if (st !== undefined) svc.serviceType = parseNumber(st);
      if (sta !== undefined) svc.startType = parseNumber(sta);
      if (ec !== undefined) svc.errorControl = parseNumber(ec);
      const bin = get('ServiceBinary'), grp = get('LoadOrderGroup'), dn = get('DisplayName');
      if (bin !== undefined) svc.serviceBinary = bin;
      if (grp !== undefined) svc.loadOrderGroup = grp;
      if (dn !== undefined) svc.displayName = dn;
      for (const k of ['serviceType', 'startType', 'errorControl'] as const) if (svc[k] === undefined) delete svc[k];
    }
    services.push(svc);
  }
  return {
    section: s.name,
    installName,
    copyFiles: copyFilesOf(inf, s.name, warn),
    coInstallerFiles: findSection(inf, `${s.name}.CoInstallers`) ? copyFilesOf(inf, `${s.name}.CoInstallers`, warn) : [],
    services,
    includes,
    archs: [],
    line: s.line,
  };
}

/**
 * Catalog Windows uses on an architecture: CatalogFile.NT<arch>, then CatalogFile.NT,
 * then CatalogFile (INF Version section: platform-specific entries take precedence).
 */
export function catalogFor(inf: Inf, arch: InfArch): string | undefined {
  return inf.version.catalogFiles[`catalogfile.nt${arch}`] ?? inf.version.catalogFiles['catalogfile.nt'] ?? inf.version.catalogFile;
}

/** Architectures the INF installs devices on (from its Models sections). */
export function infArchs(inf: Inf): InfArch[] {
  const set = new Set<InfArch>();
  for (const m of inf.models) for (const a of modelArchs(m)) set.add(a);
  return KNOWN_ARCHS.filter((a) => set.has(a));
}
