import { isSpace, XmlPullTokenizer, XmlError, resolveReference } from './xml-pull.js';

export { XmlError, decodeEntities } from './xml-pull.js';

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
  /** Its text runs (between child elements), each trimmed, concatenated. */
  text: string;
}

/** Decode XML/text bytes by BOM (UTF-8, UTF-16LE/BE); no BOM means UTF-8, or UTF-16LE when it looks like it. */
export function decodeText(bytes: Uint8Array): string {
  const b0 = bytes[0], b1 = bytes[1];
  if (b0 === 0xef && b1 === 0xbb && bytes[2] === 0xbf) return UTF8.decode(bytes.subarray(3));
  if (b0 === 0xff && b1 === 0xfe) return new TextDecoder('utf-16le').decode(bytes.subarray(2));
  if (b0 === 0xfe && b1 === 0xff) return new TextDecoder('utf-16be').decode(bytes.subarray(2));
  if (bytes.length >= 4 && b0 !== 0 && b1 === 0 && bytes[2] !== 0 && bytes[3] === 0) {
    return new TextDecoder('utf-16le').decode(bytes);
  }
  return UTF8.decode(bytes);
}

/** One decoder for the common case (decodeText runs once per fragment of a scan cabinet, 900,000 times). */
const UTF8 = new TextDecoder('utf-8');

/**
 * An XML Name: NameStartChar, ASCII part exact, then NameChars; every non-ASCII code unit is
 * accepted (names in our formats are ASCII). A regular expression rather than a loop over
 * characters, which a fresh process runs in V8's interpreter (docs/performance.md).
 */
const NAME = /[A-Za-z_:\u0080-\uffff][A-Za-z0-9_:.\-\u0080-\uffff]*/y;
const REFERENCE = /^&(#[0-9]+|#x[0-9a-fA-F]+|[A-Za-z_][A-Za-z0-9._-]*);/;

/**
 * Well-formedness in one pass over the text (the parser itself is lenient: it accepts
 * mismatched and unclosed tags). Checks: tags nest and close, one root and nothing but
 * white space, comments and PIs outside it, attribute syntax (name, `=`, quoted value
 * without `<`, white space between attributes, no duplicates), references well formed,
 * comments/PIs/CDATA terminated. Null when well formed.
 */
export function checkWellFormed(text: string): { msg: string; line: number; col: number } | null {
  const n = text.length;
  const fail = (msg: string, at: number): { msg: string; line: number; col: number } => {
    let line = 1, lineStart = 0;
    for (let k = 0; k < at && k < n; k++) if (text.charCodeAt(k) === 0x0a) { line++; lineStart = k + 1; }
    return { msg, line, col: at - lineStart + 1 };
  };
  const stack: string[] = [];
  let rootDone = false;
  const start = text.charCodeAt(0) === 0xfeff ? 1 : 0; // a byte order mark that survived decoding
  let i = start;
  const name = (): string => {
    NAME.lastIndex = i;
    if (!NAME.test(text)) return '';
    const start = i;
    i = NAME.lastIndex;
    return text.slice(start, i);
  };
  // the next '&' at or after a position, found once and reused: the scan only moves forward,
  // so a document without any '&' is searched once, not once per text run
  let amp = -2;
  const refsOk = (from: number, to: number): number => {
    if (amp !== -1 && amp < from) amp = text.indexOf('&', from);
    while (amp >= 0 && amp < to) {
      const m = REFERENCE.exec(text.slice(amp, Math.min(amp + 40, to)));
      if (!m || resolveReference(m[1]!) === null) return amp;
      amp = text.indexOf('&', amp + 1);
    }
    return -1;
  };
  while (i < n) {
    const lt = text.indexOf('<', i);
    const end = lt < 0 ? n : lt;
    // character data between markup: only white space outside the root element
    if (stack.length === 0) {
      for (let k = i; k < end; k++) {
        if (!isSpace(text.charCodeAt(k))) return fail(rootDone ? 'Extra text at the end' : 'text before the root element', k);
      }
    }
    if (stack.length > 0) {
      const badRef = refsOk(i, end);
      if (badRef >= 0) return fail("'&' does not start a valid reference", badRef);
    }
    if (lt < 0) break;
    i = lt;
    if (text.startsWith('<?', i)) {
      const close = text.indexOf('?>', i + 2);
      if (close < 0) return fail('processing instruction is not closed', i);
      if (/^<\?xml[\s?]/i.test(text.slice(i, i + 6)) && i !== start) return fail('XML declaration allowed only at the start of the document', i);
      i = close + 2;
    } else if (text.startsWith('<!--', i)) {
      const close = text.indexOf('-->', i + 4);
      if (close < 0) return fail('comment is not closed', i);
      i = close + 3;
    } else if (text.startsWith('<![CDATA[', i)) {
      if (stack.length === 0) return fail('CDATA section outside the root element', i);
      const close = text.indexOf(']]>', i + 9);
      if (close < 0) return fail('CDATA section is not closed', i);
      i = close + 3;
    } else if (text.startsWith('<!', i)) {
      return fail('unexpected markup declaration', i);
    } else if (text.startsWith('</', i)) {
      const at = i;
      i += 2;
      const tag = name();
      while (i < n && isSpace(text.charCodeAt(i))) i++;
      if (!tag || text.charCodeAt(i) !== 0x3e) return fail('malformed closing tag', at);
      i++;
      const open = stack.pop();
      if (open === undefined) return fail(`closing tag '${tag}' has no opening tag`, at);
      if (open !== tag) return fail(`expected closing tag '${open}' instead of '${tag}'`, at);
      if (stack.length === 0) rootDone = true;
    } else {
      const at = i;
      i++;
      const tag = name();
      if (!tag) return fail("'<' does not start a tag", at);
      if (stack.length === 0 && rootDone) return fail('Extra text at the end: a second root element', at);
      const seen = new Set<string>();
      for (;;) {
        const wsStart = i;
        while (i < n && isSpace(text.charCodeAt(i))) i++;
        if (i >= n) return fail(`tag '${tag}' is not closed`, at);
        const c = text.charCodeAt(i);
        if (c === 0x3e) {
          i++;
          stack.push(tag);
          break;
        }
        if (c === 0x2f) {
          if (text.charCodeAt(i + 1) !== 0x3e) return fail(`malformed empty-element tag '${tag}'`, i);
          i += 2;
          if (stack.length === 0) rootDone = true;
          break;
        }
        if (i === wsStart) return fail(`attributes of '${tag}' must be separated by white space`, i);
        const attrAt = i;
        const attr = name();
        if (!attr) return fail(`invalid attribute name in '${tag}'`, i);
        while (i < n && isSpace(text.charCodeAt(i))) i++;
        if (text.charCodeAt(i) !== 0x3d) return fail(`attribute '${attr}' has no value`, attrAt);
        i++;
        while (i < n && isSpace(text.charCodeAt(i))) i++;
        const q = text.charCodeAt(i);
        if (q !== 0x22 && q !== 0x27) return fail(`value of attribute '${attr}' is not quoted`, i);
        const close = text.indexOf(q === 0x22 ? '"' : "'", i + 1);
        if (close < 0) return fail(`value of attribute '${attr}' is not closed`, i);
        const lt2 = text.indexOf('<', i + 1);
        if (lt2 >= 0 && lt2 < close) return fail(`'<' in the value of attribute '${attr}'`, lt2);
        const badRef = refsOk(i + 1, close);
        if (badRef >= 0) return fail("'&' does not start a valid reference", badRef);
        if (seen.has(attr)) return fail(`attribute '${attr}' is repeated`, attrAt);
        seen.add(attr);
        i = close + 1;
      }
    }
  }
  if (stack.length > 0) return fail(`unclosed tag '${stack[stack.length - 1]}'`, n);
  if (!rootDone) return fail('no root element', n);
  return null;
}

/** Parse XML text into the root element. Throws XmlError (naming `file`) on anything malformed. */
export function parseXml(input: string | Uint8Array, file?: string): XmlElement {
  const text = typeof input === 'string' ? input : decodeText(input);
  if (/<!DOCTYPE/i.test(text) || /<!ENTITY/i.test(text)) {
    throw new XmlError('document type declarations are not allowed (entity expansion is never performed)', file);
  }
  const bad = checkWellFormed(text);
  if (bad) throw new XmlError(`malformed XML: ${bad.msg}`, file, `line ${bad.line}, column ${bad.col}`);
  return buildTree(text, file);
}

/**
 * The tree, built on the one tokenizer (src/util/xml-pull.ts). Attribute values are trimmed;
 * an element's `text` is its text runs (character data between child elements, CDATA
 * sections), each trimmed, joined.
 */
const MAX_DEPTH = 100;

function buildTree(text: string, file?: string): XmlElement {
  let root: XmlElement | undefined;
  const open: XmlElement[] = [];
  const texts: string[][] = [];
  const tokenizer = new XmlPullTokenizer({
    open(name, attrs) {
      // the formats nest a dozen deep; consumers walk trees recursively
      if (open.length >= MAX_DEPTH) throw new XmlError(`malformed XML: elements nest more than ${MAX_DEPTH} deep`, file);
      const el: XmlElement = { name, attrs, children: [], text: '' };
      const parent = open[open.length - 1];
      if (parent) parent.children.push(el);
      else root ??= el;
      open.push(el);
      texts.push([]);
    },
    close() {
      const el = open.pop()!;
      el.text = texts.pop()!.join('').trim();
    },
    text(t) {
      if (t) texts[texts.length - 1]?.push(t);
    },
  }, file, Infinity, true);
  tokenizer.push(text);
  tokenizer.end();
  if (!root) throw new XmlError('expected one root element, found 0', file);
  return root;
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

/** Attributes minus namespace declarations. */
export function ownAttrs(el: XmlElement): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(el.attrs)) {
    const l = k.toLowerCase();
    if (l === 'xmlns' || l.startsWith('xmlns:')) continue;
    out[k] = v;
  }
  return out;
}

/** Attribute lookup, case-insensitive as Windows tooling is (`processorArchitecture` vs `ProcessorArchitecture`). */
export function attr(el: XmlElement, name: string): string | undefined {
  if (name in el.attrs) return el.attrs[name];
  const lower = name.toLowerCase();
  for (const [k, v] of Object.entries(el.attrs)) if (k.toLowerCase() === lower) return v;
  return undefined;
}
