import { FormatError } from '../errors.js';

export class XmlError extends FormatError {
  constructor(message: string, file?: string, where?: string) {
    super('E_XML', message, { file, where });
  }
}

const PREDEFINED: Record<string, string> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" };

/** XML 1.0 Char: what a character reference may name (no NUL, no lone surrogate, no U+FFFE/U+FFFF). */
export function isXmlChar(cp: number): boolean {
  return cp === 0x9 || cp === 0xa || cp === 0xd || (cp >= 0x20 && cp <= 0xd7ff) || (cp >= 0xe000 && cp <= 0xfffd) || (cp >= 0x10000 && cp <= 0x10ffff);
}

/** The text a reference (`amp`, `#38`, `#x26`) stands for; null when it names nothing (no DTD: only the five predefined). */
export function resolveReference(ref: string): string | null {
  if (ref[0] !== '#') return PREDEFINED[ref] ?? null;
  const digits = ref[1] === 'x' ? ref.slice(2) : ref.slice(1);
  // more digits than any code point has: not one (and parseInt would lose precision)
  if (digits.length === 0 || digits.length > 8) return null;
  const cp = ref[1] === 'x' ? parseInt(digits, 16) : parseInt(digits, 10);
  return isXmlChar(cp) ? String.fromCodePoint(cp) : null;
}

/** Decode the references of a text or attribute value; a reference to nothing is an XmlError. */
export function decodeEntities(s: string): string {
  if (!s.includes('&')) return s;
  return s.replace(/&(#x[0-9a-fA-F]+|#[0-9]+|[A-Za-z_][A-Za-z0-9._-]*);/g, (whole, ref: string) => {
    const r = resolveReference(ref);
    if (r === null) throw new XmlError(`reference ${whole} names no character or predefined entity (no DTD is read)`);
    return r;
  });
}


/**
 * The one XML tokenizer: parseXml() (src/util/xml.ts) builds its trees with it, and XML too
 * large to hold as one string (the index package.xml of an offline-scan cabinet reaches
 * hundreds of MB) is pushed through it in chunks; complete tokens are handed to the handler
 * as they appear. Safety: DTDs refused, only predefined and numeric references decoded (any other is an error),
 * namespace prefixes (and namespace declarations) dropped. Nesting is checked; one token may not exceed
 * `maxToken` characters, so memory stays bounded whatever the input.
 */
export interface XmlPullHandler {
  open(name: string, attrs: Record<string, string>, selfClosing: boolean): void;
  close(name: string): void;
  text?(text: string): void;
}

const ATTR = /([^\s=/>]+)\s*=\s*(?:"([^"<]*)"|'([^'<]*)')/gy;
/**
 * The inside of a tag up to its '>': text without quotes or angle brackets, and quoted values
 * without '<'. A regular expression, not a loop over characters: the tags are most of a
 * document, and a fresh process runs such a loop in V8's interpreter (docs/performance.md).
 */
const TAG_BODY = /[^"'<>]*(?:(?:"[^"<]*"|'[^'<]*')[^"'<>]*)*/y;
const localName = (n: string): string => {
  const c = n.indexOf(':');
  return c < 0 ? n : n.slice(c + 1);
};

export class XmlPullTokenizer {
  private buf = '';
  private readonly stack: string[] = [];
  private rootSeen = false;
  private consumed = 0;

  constructor(
    private readonly handler: XmlPullHandler,
    private readonly file?: string,
    private readonly maxToken = 4 * 1024 * 1024,
    /**
     * Trim white space off each text run and attribute value before references are decoded (as
     * parseXml's trees have it). Only for a document pushed whole: a streamed run may be split.
     */
    private readonly trim = false,
  ) {}

  private fail(msg: string): never {
    throw new XmlError(`malformed XML: ${msg}`, this.file, `character ${this.consumed}`);
  }

  push(chunk: string): void {
    this.buf = this.buf.length ? this.buf + chunk : chunk;
    let i = 0;
    const b = this.buf;
    const n = b.length;
    if (this.consumed === 0 && b.charCodeAt(0) === 0xfeff) i = 1;
    for (;;) {
      const lt = b.indexOf('<', i);
      if (lt < 0) {
        this.textRun(b.slice(i), false);
        i = n;
        break;
      }
      if (lt > i) this.textRun(b.slice(i, lt), true);
      i = lt;
      const end = this.tokenEnd(b, i);
      if (end < 0) break; // incomplete token: wait for more text
      this.token(b.slice(i, end));
      this.consumed += end - i;
      i = end;
    }
    this.buf = b.slice(i);
    if (this.buf.length > this.maxToken) this.fail(`a single token is longer than ${this.maxToken} characters`);
  }

  /** Call after the last chunk. */
  end(): void {
    if (this.buf.trim().length) this.fail('the document ends inside markup (truncated?)');
    if (this.stack.length) this.fail(`unclosed tag '${this.stack[this.stack.length - 1]}' (truncated?)`);
    if (!this.rootSeen) this.fail('no root element');
  }

  private textRun(t: string, _complete: boolean): void {
    if (!t.length) return;
    if (this.stack.length === 0) {
      if (t.trim().length) this.fail(this.rootSeen ? 'text after the root element' : 'text before the root element');
      return;
    }
    // A text run split across chunks is delivered in pieces; the formats read here keep values in attributes.
    this.handler.text?.(decodeEntities(this.trim ? t.trim() : t));
  }

  /** Index one past the end of the token starting at `i` ('<'), or -1 when not yet complete. */
  private tokenEnd(b: string, i: number): number {
    const c1 = b.charCodeAt(i + 1);
    if (c1 === 0x21 /* ! */) {
      if (b.startsWith('<!--', i)) {
        const c = b.indexOf('-->', i + 4);
        return c < 0 ? -1 : c + 3;
      }
      if (b.startsWith('<![CDATA[', i)) {
        const c = b.indexOf(']]>', i + 9);
        return c < 0 ? -1 : c + 3;
      }
      if (b.length - i < 9 && ('<!DOCTYPE'.startsWith(b.slice(i).toUpperCase()) || '<![CDATA['.startsWith(b.slice(i)))) return -1;
      if (/^<!(DOCTYPE|ENTITY)/i.test(b.slice(i, i + 9))) {
        throw new XmlError('document type declarations are not allowed (entity expansion is never performed)', this.file);
      }
    } else if (c1 === 0x3f /* ? */) {
      const c = b.indexOf('?>', i + 2);
      return c < 0 ? -1 : c + 2;
    } else if (c1 !== c1) return -1; // '<' is the last character so far
    // a tag: '>' outside quotes. TAG_BODY takes the text and the closed quoted values before it;
    // where it stops is the '>', or what stopped it
    TAG_BODY.lastIndex = i + 1;
    TAG_BODY.test(b);
    const k = TAG_BODY.lastIndex;
    if (k >= b.length) return -1;
    const c = b.charCodeAt(k);
    if (c === 0x3e) return k + 1;
    if (c === 0x3c) this.fail("'<' inside a tag");
    // a quote not closed before a '<' or the end so far
    const close = b.indexOf(c === 0x22 ? '"' : "'", k + 1);
    const lt = b.indexOf('<', k + 1);
    if (lt >= 0 && (close < 0 || lt < close)) this.fail("'<' inside an attribute value");
    return -1;
  }

  private token(t: string): void {
    const c1 = t.charCodeAt(1);
    if (c1 === 0x3f /* ? */ || t.startsWith('<!--')) return;
    if (c1 === 0x21 /* ! */) {
      if (!t.startsWith('<![CDATA[')) this.fail('unexpected markup declaration');
      if (!this.stack.length) this.fail('CDATA section outside the root element');
      this.handler.text?.(t.slice(9, -3));
      return;
    }
    if (c1 === 0x2f /* / */) {
      const name = t.slice(2, -1).trim();
      const open = this.stack.pop();
      if (open === undefined) this.fail(`closing tag '${name}' has no opening tag`);
      if (open !== name) this.fail(`expected closing tag '${open}' instead of '${name}'`);
      this.handler.close(localName(name));
      return;
    }
    const self = t.charCodeAt(t.length - 2) === 0x2f;
    const body = t.slice(1, self ? -2 : -1);
    const end = body.length;
    // the name: a letter, '_' or ':', then anything up to white space, '/' or '>'
    const c0 = body.charCodeAt(0);
    if (!((c0 >= 0x41 && c0 <= 0x5a) || (c0 >= 0x61 && c0 <= 0x7a) || c0 === 0x5f || c0 === 0x3a)) this.fail("'<' does not start a tag");
    let pos = 1;
    while (pos < end && !isSpace(body.charCodeAt(pos)) && body.charCodeAt(pos) !== 0x2f && body.charCodeAt(pos) !== 0x3e) pos++;
    const name = body.slice(0, pos);
    if (this.stack.length === 0 && this.rootSeen) this.fail('a second root element');
    const attrs: Record<string, string> = {};
    const seen = new Set<string>();
    for (;;) {
      const ws = pos;
      while (pos < end && isSpace(body.charCodeAt(pos))) pos++;
      if (pos >= end) break;
      if (pos === ws) this.fail(`attributes of '${name}' must be separated by white space`);
      ATTR.lastIndex = pos;
      const a = ATTR.exec(body);
      if (!a) this.fail(`malformed attribute in '${name}'`);
      const raw = a[1]!;
      if (seen.has(raw)) this.fail(`attribute '${raw}' is repeated in '${name}'`);
      seen.add(raw);
      // namespace declarations are dropped with the prefixes, and so is a name with nothing after
      // its prefix; two prefixed names with one local name: the later wins
      const key = localName(raw);
      if (key !== '' && raw !== 'xmlns' && !raw.startsWith('xmlns:')) {
        const v = a[2] ?? a[3] ?? '';
        attrs[key] = decodeEntities(this.trim ? v.trim() : v);
      }
      pos = ATTR.lastIndex;
    }
    this.rootSeen = true;
    if (!self) this.stack.push(name);
    const local = localName(name);
    this.handler.open(local, attrs, self);
    if (self) this.handler.close(local);
  }
}

/** XML white space: space, tab, line feed, carriage return. */
export const isSpace = (c: number): boolean => c === 0x20 || c === 0x0a || c === 0x09 || c === 0x0d;
