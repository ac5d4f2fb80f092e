// The XML tokenizer (src/util/xml-pull.ts) on its own: the same tokens however a document is cut
// into chunks, and a tag's end found past quoted '>' and '/', with the errors for a '<' inside a
// tag or an attribute value, whether the '<' arrives in the same chunk or a later one.
import { describe, expect, it } from 'vitest';
import { XmlError, XmlPullTokenizer } from '../../src/util/xml-pull.js';

/** The tokens of `chunks` pushed in turn, then end(); or the error's message. */
function tokens(chunks: string[]): string[] {
  const out: string[] = [];
  const t = new XmlPullTokenizer({
    open: (name, attrs, self) => out.push(`open ${name} ${JSON.stringify(attrs)}${self ? ' /' : ''}`),
    close: (name) => out.push(`close ${name}`),
    text: (s) => out.push(`text ${JSON.stringify(s)}`),
  });
  try {
    for (const c of chunks) t.push(c);
    t.end();
  } catch (err) {
    expect(err).toBeInstanceOf(XmlError);
    out.push(`error ${(err as Error).message}`);
  }
  return out;
}

/** `doc` in chunks of `size` characters. */
const cut = (doc: string, size: number): string[] => Array.from({ length: Math.ceil(doc.length / size) }, (_, k) => doc.slice(k * size, (k + 1) * size));

const DOC = `\uFEFF<?xml version="1.0"?>
<!-- a comment with <tags> and "quotes" -->
<assembly xmlns="urn:x" manifestVersion='1.0'>
  <assemblyIdentity name="a>b/c" version='1.2.3.4' language="neutral"/>
  <package identifier='x "y" &amp; z' releaseType="Update">
    <!--inner-->text and more<![CDATA[ <raw> ]]>
    <update name="one"><component/></update>
  </package>
</assembly>
`;

describe('XmlPullTokenizer', () => {
  it('gives the same tokens whether a document comes whole or in chunks of any size', () => {
    const whole = tokens([DOC]);
    expect(whole).toEqual([
      'open assembly {"manifestVersion":"1.0"}',
      'text "\\n  "',
      'open assemblyIdentity {"name":"a>b/c","version":"1.2.3.4","language":"neutral"} /',
      'close assemblyIdentity',
      'text "\\n  "',
      'open package {"identifier":"x \\"y\\" & z","releaseType":"Update"}',
      'text "\\n    "',
      'text "text and more"',
      'text " <raw> "',
      'text "\\n    "',
      'open update {"name":"one"}',
      'open component {} /',
      'close component',
      'close update',
      'text "\\n  "',
      'close package',
      'text "\\n"',
      'close assembly',
    ]);
    for (let size = 1; size <= 40; size++) {
      // text runs may come in pieces (a reference cut in two stays undecoded: values are in attributes): compare the markup tokens and the text joined
      const join = (xs: string[]) => xs.reduce<string[]>((acc, x) => {
        const last = acc[acc.length - 1];
        if (x.startsWith('text ') && last?.startsWith('text ')) acc[acc.length - 1] = `text ${JSON.stringify(JSON.parse(last.slice(5)) + JSON.parse(x.slice(5)))}`;
        else acc.push(x);
        return acc;
      }, []);
      expect(join(tokens(cut(DOC, size))), `chunks of ${size}`).toEqual(join(whole));
    }
  });

  it("fails a '<' inside an attribute value or a tag, in the same chunk or a later one", () => {
    const cases: [string, string][] = [
      ['<a><b c="x<y"/></a>', "'<' inside an attribute value"],
      ["<a><b c='x<y'/></a>", "'<' inside an attribute value"],
      ['<a><b c="x" d="y<"/></a>', "'<' inside an attribute value"],
      ['<a><b c="x" <d/></a>', "'<' inside a tag"],
      ['<a><b <c/></a>', "'<' inside a tag"],
    ];
    for (const [doc, why] of cases) {
      for (let size = 1; size <= doc.length; size++) {
        const got = tokens(cut(doc, size));
        expect(got.at(-1), `${doc} in chunks of ${size}`).toMatch(new RegExp(`^error malformed XML: ${why}`));
      }
    }
  });

  it('waits for the rest of a tag cut anywhere, and says so when the document ends inside it', () => {
    const doc = `<a><b c="1>2" d='3'/></a>`;
    for (let k = 4; k < doc.length - 4; k++) {
      // a tag cut at k is not reported until more text comes
      const t = new XmlPullTokenizer({ open() {}, close() {} });
      t.push(doc.slice(0, k));
      t.push(doc.slice(k));
      expect(() => t.end()).not.toThrow();
    }
    expect(tokens([`<a><b c="1>2`])).toEqual(['open a {}', "error malformed XML: the document ends inside markup (truncated?)"]);
    expect(tokens([`<a><b c='1'`])).toEqual(['open a {}', "error malformed XML: the document ends inside markup (truncated?)"]);
  });
});
