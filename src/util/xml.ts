import { XMLParser, XMLValidator } from 'fast-xml-parser';
import { FormatError } from '../errors.js';

/**
 * One XML reader for every format (.mum, .manifest, cix, update.ses, unattend).
 * Safety: DTDs are refused outright (no entity can ever be declared, let alone
 * expanded); only the five predefined entities and numeric character references
 * are decoded. Namespace prefixes are dropped (`mum2:customInformation` becomes
 * `customInformation`); the formats we read never reuse a local name across
 * namespaces in a way that matters.
 */
export interface XmlElement {
  name: string;
  attrs: Record<string, string>;
  children: XmlElement[];
  /** Concatenated direct text content, trimmed. */
  text: string;
}

export class XmlError extends FormatError {
  constructor(message: string, file?: string, where?: string) {
    super('E_XML', message, { file, where });
  }
}

const PREDEFINED: Record<string, string> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" };

export function decodeEntities(s: string): string {
  if (!s.includes('&')) return s;
  return s.replace(/&(#x[0-9a-fA-F]+|#[0-9]+|[A-Za-z]+);/g, (whole, ref: string) => {
    if (ref[0] === '#') {
      const cp = ref[1] === 'x' ? parseInt(ref.slice(2), 16) : parseInt(ref.slice(1), 10);
      return cp > 0 && cp <= 0x10ffff ? String.fromCodePoint(cp) : whole;
    }
    return PREDEFINED[ref] ?? whole;
  });
}

/** Decode XML/text bytes by BOM (UTF-8, UTF-16LE/BE); no BOM means UTF-8, or UTF-16LE when it looks like it. */
export function decodeText(bytes: Uint8Array): string {
  const b0 = bytes[0], b1 = bytes[1];
  if (b0 === 0xef && b1 === 0xbb && bytes[2] === 0xbf) return new TextDecoder('utf-8').decode(bytes.subarray(3));
  if (b0 === 0xff && b1 === 0xfe) return new TextDecoder('utf-16le').decode(bytes.subarray(2));
  if (b0 === 0xfe && b1 === 0xff) return new TextDecoder('utf-16be').decode(bytes.subarray(2));
  if (bytes.length >= 4 && b0 !== 0 && b1 === 0 && bytes[2] !== 0 && bytes[3] === 0) {
    return new TextDecoder('utf-16le').decode(bytes);
  }
  return new TextDecoder('utf-8').decode(bytes);
}

const parser = new XMLParser({
  preserveOrder: true,
  ignoreAttributes: false,
  attributeNamePrefix: '',
  removeNSPrefix: true,
  processEntities: false,
  htmlEntities: false,
  parseAttributeValue: false,
  parseTagValue: false,
  trimValues: true,
  ignoreDeclaration: true,
  ignorePiTags: true,
  commentPropName: false as unknown as string,
});

type Ordered = Record<string, unknown> & { ':@'?: Record<string, string> };

function convert(node: Ordered): XmlElement | string | null {
  const attrs: Record<string, string> = {};
  for (const [k, v] of Object.entries(node[':@'] ?? {})) attrs[k] = decodeEntities(String(v));
  for (const key of Object.keys(node)) {
    if (key === ':@') continue;
    if (key === '#text') return decodeEntities(String(node[key]));
    const kids = (node[key] as Ordered[]) ?? [];
    const el: XmlElement = { name: key, attrs, children: [], text: '' };
    const texts: string[] = [];
    for (const k of kids) {
      const c = convert(k);
      if (typeof c === 'string') texts.push(c);
      else if (c) el.children.push(c);
    }
    el.text = texts.join('').trim();
    return el;
  }
  return null;
}

/** Parse XML text into the root element. Throws XmlError (naming `file`) on anything malformed. */
export function parseXml(input: string | Uint8Array, file?: string): XmlElement {
  const text = typeof input === 'string' ? input : decodeText(input);
  if (/<!DOCTYPE/i.test(text) || /<!ENTITY/i.test(text)) {
    throw new XmlError('document type declarations are not allowed (entity expansion is never performed)', file);
  }
  const v = XMLValidator.validate(text, { allowBooleanAttributes: false });
  if (v !== true) {
    const e = v.err;
    throw new XmlError(`malformed XML: ${e.msg}`, file, `line ${e.line}, column ${e.col}`);
  }
  let tree: Ordered[];
  try {
    tree = parser.parse(text) as Ordered[];
  } catch (err) {
    throw new XmlError(`malformed XML: ${(err as Error).message}`, file);
  }
  const roots = tree.map(convert).filter((x): x is XmlElement => typeof x === 'object' && x !== null);
  if (roots.length !== 1) throw new XmlError(`expected one root element, found ${roots.length}`, file);
  return roots[0]!;
}

export function child(el: XmlElement, name: string): XmlElement | undefined {
  return el.children.find((c) => c.name === name);
}

export function childrenNamed(el: XmlElement, name: string): XmlElement[] {
  return el.children.filter((c) => c.name === name);
}

/** Depth-first search for every descendant with this local name. */
export function descendants(el: XmlElement, name: string): XmlElement[] {
  const out: XmlElement[] = [];
  const walk = (e: XmlElement): void => {
    for (const c of e.children) {
      if (c.name === name) out.push(c);
      walk(c);
    }
  };
  walk(el);
  return out;
}

/** Attribute lookup, case-insensitive as Windows tooling is (`processorArchitecture` vs `ProcessorArchitecture`). */
export function attr(el: XmlElement, name: string): string | undefined {
  if (name in el.attrs) return el.attrs[name];
  const lower = name.toLowerCase();
  for (const [k, v] of Object.entries(el.attrs)) if (k.toLowerCase() === lower) return v;
  return undefined;
}
