/**
 * The one-pass well-formedness check that runs before parseXml builds its tree (the tree
 * builder checks nesting only). fast-xml-parser's own XMLValidator, which the check
 * replaced for speed, is the oracle: on real manifests and thousands of mutations of them the
 * two must agree on accept/reject.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { XMLValidator } from 'fast-xml-parser';
import { describe, expect, it } from 'vitest';
import { rng } from '../helpers/rng.js';
import { checkWellFormed, decodeText, parseXml, XmlError } from '../../src/util/xml.js';
import { Cabinet } from '../../src/cab/cabinet.js';
import { corpusPath, hasCorpus } from '../helpers/corpus.js';

const GOLDEN = path.resolve(__dirname, '../fixtures/golden');

/** Where the XML spec is stricter than the validator and so are we: a second root element, `<` in an attribute value. */
const STRICTER = ['Extra text at the end: a second root', "'<' in the value of attribute"];
const oracle = (t: string): boolean => XMLValidator.validate(t, { allowBooleanAttributes: false }) === true;

describe('checkWellFormed', () => {
  it.each([
    ['<a/>', null],
    ['\uFEFF<?xml version="1.0"?>\n<!-- c --><a x="1" y=\'2\'><b>t &amp; &#x41; &#65;</b><![CDATA[ <x> & ]]><?pi x?></a>\n<!-- after -->\n', null],
    ['<a><b></a>', "expected closing tag 'b' instead of 'a'"],
    ['<a>', "unclosed tag 'a'"],
    ['<a></a>junk', 'Extra text at the end'],
    ['<a x="1></a>', "value of attribute 'x' is not closed"],
    ['<a x="1<"/>', "'<' in the value of attribute 'x'"],
    ['<a x="1" x="2"/>', "attribute 'x' is repeated"],
    ['<a x="1"y="2"/>', "attributes of 'a' must be separated by white space"],
    ['<a x=1/>', "value of attribute 'x' is not quoted"],
    ['<a x/>', "attribute 'x' has no value"],
    ['<a>&nope</a>', "'&' does not start a valid reference"],
    ['<a><!-- x </a>', 'comment is not closed'],
    ['hello', 'text before the root element'],
    ['', 'no root element'],
    ['<1a/>', "'<' does not start a tag"],
    ['<-a/>', "'<' does not start a tag"],
    ['<.a/>', "'<' does not start a tag"],
    // names: after the first character, digits, '-', '.' and ':' too; any non-ASCII character
    ['<a-b.c_d:e9 x-y.z="1" _q:r2="2"></a-b.c_d:e9>', null],
    ['<\u00e9l\u00e9ment attr\u00ee="1"/>', null],
    ['<a><b-c></b-d></a>', "expected closing tag 'b-c' instead of 'b-d'"],
    ['<a 1x="1"/>', "invalid attribute name in 'a'"],
  ])('%j', (text, msg) => {
    const r = checkWellFormed(text);
    if (msg === null) expect(r).toBeNull();
    else expect(r?.msg).toBe(msg);
    if (!STRICTER.some((x) => r?.msg.startsWith(x))) expect(r === null).toBe(oracle(text.replace(/^\uFEFF/, '')));
  });

  it('one root only (the validator would take a second one; the parse then refuses it anyway)', () => {
    expect(checkWellFormed('<a/><b/>')?.msg).toBe('Extra text at the end: a second root element');
  });

  it('reports line and column of the problem', () => {
    expect(checkWellFormed('<a>\n  <b>\n  </c>\n</a>')).toEqual({ msg: "expected closing tag 'b' instead of 'c'", line: 3, col: 3 });
    const e = (() => {
      try {
        parseXml('<a>\n<b></a>', 'x.mum');
      } catch (err) {
        return err as XmlError;
      }
      return undefined;
    })();
    expect(e?.describe()).toBe("x.mum: malformed XML: expected closing tag 'b' instead of 'a' (line 2, column 4)");
  });

  it.skipIf(!hasCorpus)('agrees with fast-xml-parser\'s validator on real package XML and 6,000 mutations of it', async () => {
    // the .mum and .manifest members of the real KB2883457 cabinet, and the generated guest XML
    const cab = await Cabinet.openFile(corpusPath('cab', 'Windows6.1-KB2883457-amd64.cab'));
    const texts: string[] = [];
    for (const e of cab.entries.filter((x) => /\.(mum|manifest)$/i.test(x.name))) texts.push(decodeText(await cab.readFile(e)).replace(/^\uFEFF/, ''));
    await cab.close();
    for (const g of ['wua-unattend.xml', 'wua-task.xml']) texts.push(decodeText(readFileSync(path.join(GOLDEN, g))).replace(/^\uFEFF/, ''));
    expect(texts.length).toBeGreaterThan(3);
    const rnd = rng(7);
    const pieces = ['<', '>', '"', "'", '=', '/', '&', '!', ' ', 'a', '</x>', '<y>', '&amp;', '-->', '<!--', '?>'];
    let rejected = 0;
    const per = Math.ceil(6000 / texts.length);
    for (const t of texts) {
      expect(checkWellFormed(t)).toBeNull();
      for (let k = 0; k < per; k++) {
        const pos = rnd(t.length);
        const cut = 1 + rnd(3);
        const m = rnd(2) ? t.slice(0, pos) + t.slice(pos + cut) : t.slice(0, pos) + pieces[rnd(pieces.length)] + t.slice(pos);
        const ours = checkWellFormed(m);
        if (STRICTER.some((x) => ours?.msg.startsWith(x))) continue;
        if (ours !== null) rejected++;
        expect(ours === null, `${JSON.stringify(m.slice(Math.max(0, pos - 30), pos + 30))} ${ours?.msg ?? ''}`).toBe(oracle(m));
      }
    }
    expect(rejected).toBeGreaterThan(1000); // the mutations do break documents
  });
});

describe('checkWellFormed on hostile sizes', () => {
  // (the quadratic versions of the duplicate-attribute and reference scans ran past the test timeout here)
  it('an element with 50,000 attributes, and 200,000 text runs without any reference', () => {
    const attrs = '<a ' + Array.from({ length: 50_000 }, (_, i) => `x${i}="${i}"`).join(' ') + '/>';
    const runs = '<a>' + '<b>text</b>'.repeat(200_000) + '</a>';
    expect(checkWellFormed(attrs)).toBeNull();
    expect(checkWellFormed(runs)).toBeNull();
    expect(checkWellFormed(attrs.replace('x49999=', 'x0='))?.msg).toBe("attribute 'x0' is repeated");
    expect(checkWellFormed(runs.replace('<b>text</b></a>', '<b>t&x</b></a>'))?.msg).toBe("'&' does not start a valid reference");
  });
});
