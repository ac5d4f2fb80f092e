import { FormatError } from '../errors.js';
import { decodeText } from '../util/xml.js';

/**
 * `<KB>-pkgProperties.txt` inside an MSU: one `Key="Value"` per line, usually UTF-16LE
 * (docs/cbs.md, "MSU members"). Key spelling and case vary between packages, so lookups are by a
 * normalised key (lowercase, single spaces). Informational only.
 */
export interface PkgProperty {
  /** Key as written. */
  key: string;
  /** Lowercase, whitespace collapsed: `applies to`. */
  normalizedKey: string;
  value: string;
  /** 1-based line number. */
  line: number;
}

export interface PkgProperties {
  entries: PkgProperty[];
  /** `KB Article Number`, digits only (`3157663`). */
  kbArticleNumber?: string;
  /** `KB` + kbArticleNumber. */
  kb?: string;
  appliesTo?: string;
  processorArchitecture?: string;
  installationType?: string;
  packageType?: string;
  /** `Build Date` as written (`2016/05/10`). */
  buildDate?: string;
  /** The same date as `YYYY-MM-DD` when it parses. */
  buildDateIso?: string;
  language?: string;
}

export function normalizePropertyKey(key: string): string {
  return key.trim().replace(/\s+/g, ' ').toLowerCase();
}

/** First value for a key, compared case-insensitively. */
export function pkgProperty(props: Pick<PkgProperties, 'entries'>, key: string): string | undefined {
  const k = normalizePropertyKey(key);
  return props.entries.find((e) => e.normalizedKey === k)?.value;
}

const LINE = /^([^="]+?)\s*=\s*(?:"([^"]*)"|([^"]*))\s*$/;

/** Parse pkgProperties.txt (UTF-16LE with or without BOM, UTF-16BE with BOM, or UTF-8). FormatError naming `file` and line on junk. */
export function parsePkgProperties(input: Uint8Array | string, file?: string): PkgProperties {
  const text = typeof input === 'string' ? input.replace(/^\uFEFF/, '') : decodeText(input);
  if (text.includes('\u0000')) {
    throw new FormatError('E_CBS_PKGPROPS', 'not a pkgProperties text file: contains NUL characters (wrong encoding or binary data)', { file });
  }
  const entries: PkgProperty[] = [];
  const lines = text.split(/\r\n|\n|\r/);
  lines.forEach((raw, i) => {
    const line = raw.trim();
    if (line === '') return;
    const m = LINE.exec(line);
    if (!m) {
      const shown = line.length > 60 ? line.slice(0, 60) + '…' : line;
      throw new FormatError('E_CBS_PKGPROPS', `expected Key="Value", found ${JSON.stringify(shown)}`, { file, where: `line ${i + 1}` });
    }
    const key = m[1]!.trim();
    entries.push({ key, normalizedKey: normalizePropertyKey(key), value: m[2] ?? m[3]!.trim(), line: i + 1 });
  });
  if (entries.length === 0) throw new FormatError('E_CBS_PKGPROPS', 'no Key="Value" lines found', { file });

  const props: PkgProperties = { entries };
  const get = (k: string): string | undefined => pkgProperty(props, k);
  const kbRaw = get('KB Article Number');
  if (kbRaw !== undefined) {
    const digits = /^(?:KB)?\s*(\d+)$/i.exec(kbRaw.trim());
    if (digits) {
      props.kbArticleNumber = digits[1]!;
      props.kb = `KB${digits[1]}`;
    }
  }
  const set = <K extends 'appliesTo' | 'processorArchitecture' | 'installationType' | 'packageType' | 'buildDate' | 'language'>(field: K, key: string): void => {
    const v = get(key);
    if (v !== undefined) props[field] = v;
  };
  set('appliesTo', 'Applies to');
  set('processorArchitecture', 'Processor Architecture');
  set('installationType', 'Installation Type');
  set('packageType', 'Package Type');
  set('buildDate', 'Build Date');
  set('language', 'Language');
  if (props.buildDate !== undefined) {
    const d = /^(\d{4})[/-](\d{1,2})[/-](\d{1,2})$/.exec(props.buildDate.trim());
    if (d) {
      const mo = Number(d[2]);
      const da = Number(d[3]);
      if (mo >= 1 && mo <= 12 && da >= 1 && da <= 31) props.buildDateIso = `${d[1]}-${String(mo).padStart(2, '0')}-${String(da).padStart(2, '0')}`;
    }
  }
  return props;
}
