/**
 * parseXml() builds its tree with the one tokenizer (src/util/xml-pull.ts). fast-xml-parser,
 * which built it before, is the oracle here: on real package XML and thousands of mutations of
 * it, the trees must be the same. The crafted cases pin down the rules the tree follows.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { XMLParser } from 'fast-xml-parser';
import { describe, expect, it } from 'vitest';
import { Cabinet } from '../../src/cab/cabinet.js';
import { checkWellFormed, decodeEntities, decodeText, parseXml, XmlError, type XmlElement } from '../../src/util/xml.js';
import { corpusPath, hasCorpus } from '../helpers/corpus.js';
import { rng } from '../helpers/rng.js';

const GOLDEN = path.resolve(__dirname, '../fixtures/golden');

/** The tree as fast-xml-parser made it (the options and conversion parseXml used with it). */
const fxp = new XMLParser({
  preserveOrder: true, ignoreAttributes: false, attributeNamePrefix: '', removeNSPrefix: true, processEntities: false,
  htmlEntities: false, parseAttributeValue: false, parseTagValue: false, trimValues: true, ignoreDeclaration: true,
  ignorePiTags: true, commentPropName: false as unknown as string,
});
type Ordered = Record<string, unknown> & { ':@'?: Record<string, string> };
function convert(node: Ordered): XmlElement | string | null {
  const attrs: Record<string, string> = {};
  for (const [k, v] of Object.entries(node[':@'] ?? {})) attrs[k] = decodeEntities(String(v));
  for (const key of Object.keys(node)) {
    if (key === ':@') continue;
    if (key === '#text') return decodeEntities(String(node[key]));
    const el: XmlElement = { name: key, attrs, children: [], text: '' };
    const texts: string[] = [];
    for (const k of (node[key] as Ordered[]) ?? []) {
      const c = convert(k);
      if (typeof c === 'string') texts.push(c);
      else if (c) el.children.push(c);
    }
    el.text = texts.join('').trim();
    return el;
  }
  return null;
}
const oracle = (text: string): XmlElement => (fxp.parse(text) as Ordered[]).map(convert).find((x): x is XmlElement => typeof x === 'object' && x !== null)!;

const el = (name: string, attrs: Record<string, string> = {}, children: XmlElement[] = [], text = ''): XmlElement => ({ name, attrs, children, text });

describe('parseXml: the tree', () => {
  it.each<[string, XmlElement]>([
    ['<a/>', el('a')],
    ['\uFEFF<?xml version="1.0"?><!-- c --><a><?pi x?><!--c2-->v</a><!-- after -->', el('a', {}, [], 'v')],
    // namespace prefixes and declarations dropped; an attribute merely starting with "xmlns" kept
    ['<m:a xmlns="urn:x" xmlns:m="urn:m" m:c="1" d="2" xmlnsfoo="3"><m:b>z</m:b></m:a>', el('a', { c: '1', d: '2', xmlnsfoo: '3' }, [el('b', {}, [], 'z')])],
    // two prefixed attributes with one local name: the later wins
    ['<a x:k="1" y:k="2"/>', el('a', { k: '2' })],
    ['<a b:="1" c="2"/>', el('a', { c: '2' })],
    // text runs trimmed one by one, then joined; references decoded in text and attributes
    ['<a k="a&#10;b&amp;&quot;" q=\'s\'>\n  one <b>1</b>\n  two &lt;&#x1F600;\n</a>', el('a', { k: 'a\nb&"', q: 's' }, [el('b', {}, [], '1')], 'onetwo <\u{1F600}')],
    ['<a><![CDATA[ <x> & ]]></a>', el('a', {}, [], '<x> &')],
    // white space is trimmed before references are decoded: a space written as a reference stays
    ['<a k=" v " r="&#32;w&#x20;">&#32;x<b/>&#32;y </a>', el('a', { k: 'v', r: ' w ' }, [el('b')], 'x y')],
  ])('%j', (text, tree) => {
    expect(parseXml(text)).toEqual(tree);
    expect(parseXml(new TextEncoder().encode(text))).toEqual(tree);
  });

  it.each([
    ['<a>&unknown;</a>', 1, 4],
    ['<a k="&nope;"/>', 1, 7],
    ['<a>&#0;</a>', 1, 4],
    ['<a>&#xD800;</a>', 1, 4],
    ['<a>&#xFFFE;</a>', 1, 4],
    ['<a>&#99999999999;</a>', 1, 4],
  ])('%j: a reference to nothing (no DTD: only the five predefined entities and legal characters) is malformed', (text, line, col) => {
    expect(() => parseXml(text, 'r.xml')).toThrow(`malformed XML: '&' does not start a valid reference`);
    try {
      parseXml(text, 'r.xml');
    } catch (e) {
      expect([(e as XmlError).file, (e as XmlError).where]).toEqual(['r.xml', `line ${line}, column ${col}`]);
    }
  });

  it('UTF-16 with a byte order mark', () => {
    const bytes = Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from('<a k="é">ü</a>', 'utf16le')]);
    expect(parseXml(bytes)).toEqual(el('a', { k: 'é' }, [], 'ü'));
  });

  it('malformed input is an XmlError naming the file; a DTD is refused', () => {
    for (const bad of ['<a><b></a>', '<a x="1" x="2"/>', '', '<a/><b/>', '<!DOCTYPE a [<!ENTITY x "y">]><a>&x;</a>']) {
      expect(() => parseXml(bad, 'p.mum'), bad).toThrow(XmlError);
      try {
        parseXml(bad, 'p.mum');
      } catch (err) {
        expect((err as XmlError).file).toBe('p.mum');
      }
    }
  });

  it('elements nest at most 100 deep', () => {
    const nest = (n: number): string => '<a>'.repeat(n) + '</a>'.repeat(n);
    let depth = 0;
    for (let e: XmlElement | undefined = parseXml(nest(100)); e; e = e.children[0]) depth++;
    expect(depth).toBe(100);
    expect(() => parseXml(nest(101), 'deep.mum')).toThrow('malformed XML: elements nest more than 100 deep');
    expect(() => parseXml(nest(100_000), 'deep.mum')).toThrow(XmlError);
  });

  it('hostile sizes: 50,000 attributes, 200,000 sibling elements', () => {
    const attrs = '<a ' + Array.from({ length: 50_000 }, (_, i) => `x${i}="${i}"`).join(' ') + '/>';
    expect(Object.keys(parseXml(attrs).attrs)).toHaveLength(50_000);
    const runs = parseXml('<a>' + '<b>text</b>'.repeat(200_000) + '</a>');
    expect(runs.children).toHaveLength(200_000);
    expect(runs.children[199_999]).toEqual(el('b', {}, [], 'text'));
  });

  it.skipIf(!hasCorpus)('is fast-xml-parser\'s tree on real package XML and 3,000 mutations of it', async () => {
    const texts: string[] = [];
    for (const file of ['Windows6.1-KB2883457-amd64.cab', 'fod/OpenSSH-Client-Package~31bf3856ad364e35~amd64~~.cab']) {
      const cab = await Cabinet.openFile(corpusPath('cab', file));
      for (const e of cab.entries.filter((x) => /\.(mum|manifest|xml)$/i.test(x.name))) {
        const t = decodeText(await cab.readFile(e));
        if (/^\uFEFF?\s*</.test(t)) texts.push(t); // not the DCM-compressed manifests of the Features-on-Demand cab
      }
      await cab.close();
    }
    for (const g of ['wua-unattend.xml', 'wua-task.xml']) texts.push(decodeText(readFileSync(path.join(GOLDEN, g))));
    expect(texts.length).toBeGreaterThan(5);
    for (const t of texts) expect(parseXml(t)).toEqual(oracle(t.replace(/^\uFEFF/, '')));
    const rnd = rng(11);
    const pieces = ['<', '>', '"', "'", '=', '/', '&', ' ', 'a', '</x>', '<y>', '<y/>', '&amp;', '-->', '<!--', ' q="1"'];
    let accepted = 0;
    const per = Math.ceil(3000 / texts.length);
    for (const t of texts) {
      for (let k = 0; k < per; k++) {
        const pos = rnd(t.length);
        const m = rnd(2) ? t.slice(0, pos) + t.slice(pos + 1 + rnd(3)) : t.slice(0, pos) + pieces[rnd(pieces.length)] + t.slice(pos);
        let tree: XmlElement | undefined;
        try {
          tree = parseXml(m);
        } catch (err) {
          expect(err, m.slice(Math.max(0, pos - 30), pos + 30)).toBeInstanceOf(XmlError);
        }
        if (tree === undefined) continue;
        expect(checkWellFormed(m)).toBeNull();
        let want: XmlElement;
        try {
          want = oracle(m.replace(/^\uFEFF/, ''));
        } catch {
          // fast-xml-parser also parses the XML declaration; parseXml skips processing instructions
          expect(pos).toBeLessThan(t.indexOf('?>') + 2);
          continue;
        }
        expect(tree, JSON.stringify(m.slice(Math.max(0, pos - 30), pos + 30))).toEqual(want);
        accepted++;
      }
    }
    expect(accepted).toBeGreaterThan(100); // some mutations keep the document well formed (about 160 here)
  });
});
