/**
 * Hostile member names through the CLI: control characters never reach a terminal raw in text
 * output (src/util/display.ts showName) while --json keeps the real names; two members of one
 * path are reported, the last written; a member that needs another member's file to be a
 * directory is bad input, refused before anything is written.
 */
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { buildCabinet, type CabWriteFile } from '../../src/cab/writer.js';
import { showByteName, showName, terminalText } from '../../src/util/display.js';
import { execFileSync } from 'node:child_process';
import { runCli } from '../helpers/cli.js';
import { snapshot } from '../helpers/snapshot.js';
import { hasTool, skipNote } from '../helpers/tools.js';

const root = mkdtempSync(path.join(os.tmpdir(), 'msu-names-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
let n = 0;
const file = (name: string, text: string): CabWriteFile => ({ name, data: Buffer.from(text) });
/** A cabinet file of these members (one MSZIP folder) named `name` in a fresh directory. */
function cab(name: string, files: CabWriteFile[], edit?: (b: Buffer) => void): string {
  const dir = path.join(root, `c${n++}`);
  mkdirSync(dir);
  const b = Buffer.from(buildCabinet({ folders: [{ compression: 'mszip', files }] }));
  edit?.(b);
  const f = path.join(dir, name);
  writeFileSync(f, b);
  return f;
}
/** Set the raw bytes of name `was` (same length) in a built cabinet, and its CFFILE attribs. */
const patchName = (b: Buffer, was: string, bytes: number[], attribs: number): void => {
  const p = b.indexOf(Buffer.from(was + '\0', 'latin1'));
  expect(p).toBeGreaterThan(0);
  expect(bytes.length).toBe(was.length);
  Buffer.from(bytes).copy(b, p);
  b.writeUInt16LE(attribs, p - 2);
};
const ESC_NAME = 'a\x1b[31mred.txt', NL_NAME = 'two\nlines.txt';
/** Nothing on a terminal may see these: C0 controls, DEL, C1 controls. */
const CONTROL = /[\u0000-\u0009\u000b-\u001f\u007f-\u009f]/;

describe('showName', () => {
  it('escapes C0, DEL and C1 as \\xNN and leaves everything else', () => {
    expect(showName(ESC_NAME)).toBe('a\\x1b[31mred.txt');
    expect(showName(NL_NAME)).toBe('two\\x0alines.txt');
    expect(showName('\x00\t\r\x7f\u0080\u009b\u009f')).toBe('\\x00\\x09\\x0d\\x7f\\x80\\x9b\\x9f');
    expect(showName('plain\\dir\\é ü\u00a0€.txt')).toBe('plain\\dir\\é ü\u00a0€.txt');
    expect(showByteName('a\x93\x1bb\xe9')).toBe('a\\x93\\x1bb\\xe9');
  });
});

describe('terminalText', () => {
  it('escapes every control but tab, line feed and the CR of a CRLF', () => {
    expect(terminalText('plain\ttext\r\nnext line\n')).toBe('plain\ttext\r\nnext line\n');
    expect(terminalText('a\x1b]0;title\x07b\rc\u009bd\x00\x7f')).toBe('a\\x1b]0;title\\x07b\\x0dc\\x9bd\\x00\\x7f');
    expect(terminalText('end\r')).toBe('end\\x0d');
  });
});

describe('names read from an index (cix XML) in msu deltas', () => {
  // XML cannot hold ESC, but character references give a CR, a line feed, and C1 controls (U+009B is CSI)
  const cix = `<Container name="t&#x9b;1m.psf" type="PSF" version="1" xmlns="urn:ContainerIndex"><DeltaBasisSearch><Location id="1" path="{windir}\\winsxs" flags="2000001"/></DeltaBasisSearch><Files>`
    + `<File id="1" name="amd64_c&#13;over\\a.dll" length="10"><Delta><Source type="PA30" name="m1"/><Basis length="7"><Hash alg="SHA256" value="00"/></Basis></Delta></File>`
    + `<File id="2" name="amd64_c&#13;over\\two&#10;lines.dll" length="10"><Delta><Source type="PA30" name="m2"/><Basis length="8"><Hash alg="SHA256" value="01"/></Basis></Delta></File>`
    + `</Files></Container>`;

  it('prints one line per Basis, the names escaped; --json keeps them', async () => {
    const dir = path.join(root, `c${n++}`);
    mkdirSync(dir);
    const f = path.join(dir, 'express.psf.cix.xml');
    writeFileSync(f, cix);
    const r = await runCli('deltas', f);
    expect(r.code).toBe(0);
    expect(r.stdout).not.toMatch(CONTROL);
    const lines = r.stdout.split('\n');
    expect(lines[0]).toMatch(/^container {3}t\\x9b1m\.psf /);
    expect(lines).toContain('  amd64_c\\x0dover');
    expect(lines).toContain('    a.dll  [File 1]  7 bytes, SHA256 00');
    expect(lines).toContain('    two\\x0alines.dll  [File 2]  8 bytes, SHA256 01');
    const j = JSON.parse((await runCli('deltas', f, '--json')).stdout) as { container: { name: string }; externalBases: { component: string; subfolders: { needs: { fileName: string }[] }[] }[] };
    expect(j.container.name).toBe('t\u009b1m.psf');
    expect(j.externalBases.map((g) => g.component)).toEqual(['amd64_c\rover']);
    expect(j.externalBases[0]!.subfolders.flatMap((s) => s.needs.map((x) => x.fileName))).toEqual(['a.dll', 'two\nlines.dll']);
  });

  it('an error quoting a value from the index shows it escaped, on one line', async () => {
    const dir = path.join(root, `c${n++}`);
    mkdirSync(dir);
    const f = path.join(dir, 'express.psf.cix.xml');
    writeFileSync(f, cix.replace('value="01"', 'value="01&#13;&#x9b;2J"'));
    const r = await runCli('deltas', f);
    expect(r.code).toBe(3);
    expect(r.stderr).toContain('Hash@value is not a hex digest: "01\\x0d\\x9b2J"');
    expect(r.stderr).not.toMatch(CONTROL);
    expect(r.stderr.trimEnd().split('\n')).toHaveLength(1);
  });
});

describe('control characters in member names', () => {
  it('msu list prints one line per member with \\xNN escapes; --json has the real names', async () => {
    const f = cab('ctl.cab', [file(ESC_NAME, 'red'), file(NL_NAME, 'two'), file('ok.txt', 'ok')]);
    const r = await runCli('list', f);
    expect(r.code).toBe(0);
    const lines = r.stdout.trimEnd().split('\n');
    expect(lines).toHaveLength(3);
    expect(lines.map((l) => l.slice(l.lastIndexOf('  ') + 2))).toEqual(['a\\x1b[31mred.txt', 'two\\x0alines.txt', 'ok.txt']);
    expect(r.stdout).not.toMatch(CONTROL);
    const j = await runCli('list', f, '--json');
    expect(j.code).toBe(0);
    expect((JSON.parse(j.stdout) as { members: { name: string }[] }).members.map((m) => m.name)).toEqual([ESC_NAME, NL_NAME, 'ok.txt']);
    expect(j.stdout).not.toMatch(CONTROL); // JSON escapes them itself
    expect(j.stdout).toContain('"a\\u001b[31mred.txt"');
  });

  it('a UTF-8 name that decodes to C1 controls (U+009B is CSI) and a DEL are escaped too', async () => {
    // 'cXXsi.txt' → c, U+009B (C2 9B), s, i with the UTF-8 flag; 'dYel.txt' → d, DEL, e, l without it
    const f = cab('c1.cab', [file('cXXsi.txt', 'c'), file('dYel.txt', 'd')], (b) => {
      patchName(b, 'cXXsi.txt', [...Buffer.from('c\u009bsi.txt')], 0xa0);
      patchName(b, 'dYel.txt', [...Buffer.from('d\x7fel.txt', 'latin1')], 0x20);
    });
    const r = await runCli('list', f);
    expect(r.code).toBe(0);
    expect(r.stdout).not.toMatch(CONTROL);
    expect(r.stdout).toContain('  c\\x9bsi.txt\n');
    expect(r.stdout).toContain('  d\\x7fel.txt\n');
    const j = JSON.parse((await runCli('list', f, '--json')).stdout) as { members: { name: string }[] };
    expect(j.members.map((m) => m.name)).toEqual(['c\u009bsi.txt', 'd\x7fel.txt']);
  });

  it('msu inspect text output escapes them in the member list and the warnings; --json keeps them', async () => {
    const f = cab('Windows10.0-KB5000001-x64.msu', [file(ESC_NAME, 'red'), file(NL_NAME, 'two')]);
    const r = await runCli('inspect', f);
    expect(r.code).toBe(0);
    expect(r.stdout).not.toMatch(CONTROL);
    const members = r.stdout.split('\n').filter((l) => l.startsWith('  '));
    expect(members).toEqual([
      '  a\\x1b[31mred.txt  3 B  other  MSZIP',
      '  two\\x0alines.txt  3 B  other  MSZIP',
    ]);
    const j = JSON.parse((await runCli('inspect', f, '--json')).stdout) as { members: { name: string }[] };
    expect(j.members.map((m) => m.name)).toEqual([ESC_NAME, NL_NAME]);
  });

  it('an error naming a member (a payload cabinet that is not one) shows its name escaped, on one line', async () => {
    const f = cab('Windows10.0-KB5000002-x64.msu', [file('Windows10.0-KB5000002-x64\x1b[2J.cab', 'not a cabinet')]);
    const r = await runCli('inspect', f);
    expect(r.code).toBe(3);
    expect(r.stderr).toContain('!Windows10.0-KB5000002-x64\\x1b[2J.cab: ');
    expect(r.stderr).not.toMatch(CONTROL);
    expect(r.stderr.trimEnd().split('\n')).toHaveLength(1);
  });

  it('msu extract refuses them with the name escaped the same way, and writes nothing', async () => {
    const f = cab('ctl.cab', [file('ok.txt', 'ok'), file(ESC_NAME, 'red')]);
    const dest = path.join(root, `d${n++}`);
    const r = await runCli('extract', f, '-d', dest);
    expect(r.code).toBe(3);
    expect(r.stderr).toBe(`msu: ${f}: member name "a\\x1b[31mred.txt" contains control characters\n`);
    expect(existsSync(dest)).toBe(false);
  });
});

describe('two members named alike', () => {
  it('the last one is written, with one warning per name; names differing in case are both written', async () => {
    const f = cab('dup.cab', [
      file('a.txt', 'first'), file('A.txt', 'upper'), file('d\\b.txt', 'back'), file('a.txt', 'second'), file('d/b.txt', 'slash'), file('a.txt', 'third'),
      file('z.txt', 'z'),
    ]);
    const dest = path.join(root, `d${n++}`);
    const r = await runCli('extract', f, '-d', dest);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe(`extracted 4 file(s), 16 B into ${dest}\n`);
    expect(r.stderr).toBe([
      `msu: warning: ${f}: 3 members are named a.txt; the last one is written`,
      `msu: warning: ${f}: 2 members are named d/b.txt; the last one is written`,
      '',
    ].join('\n'));
    expect(snapshot(dest)).toEqual({ 'A.txt': 'file:upper', 'a.txt': 'file:third', d: 'dir', 'd/b.txt': 'file:slash', 'z.txt': 'file:z' });
  });

  it('--json lists them in duplicates (sorted by name), and an empty list when there are none', async () => {
    const f = cab('dup.cab', [file('b.txt', '1'), file('a.txt', '22'), file('b.txt', '333'), file('a.txt', '4444')]);
    const r = await runCli('extract', f, '-d', path.join(root, `d${n++}`), '--json');
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual({
      file: 'dup.cab', bytes: 7,
      files: [{ name: 'a.txt', size: 4 }, { name: 'b.txt', size: 3 }],
      duplicates: [{ name: 'a.txt', count: 2 }, { name: 'b.txt', count: 2 }],
    });
    expect(r.stderr).toContain('2 members are named a.txt');
    const plain = cab('plain.cab', [file('a.txt', 'a'), file('A.txt', 'A')]);
    const p = await runCli('extract', plain, '-d', path.join(root, `d${n++}`), '--json');
    expect(JSON.parse(p.stdout)).toMatchObject({ duplicates: [], files: [{ name: 'A.txt', size: 1 }, { name: 'a.txt', size: 1 }] });
    expect(p.stderr).toBe('');
  });

  it('writes what cabextract writes for exact and case-only duplicates', async () => {
    const f = cab('dup.cab', [file('a.txt', 'first'), file('A.txt', 'upper'), file('a.txt', 'last'), file('A.txt', 'UPPER')]);
    const ours = path.join(root, `d${n++}`);
    expect((await runCli('extract', f, '-d', ours)).code).toBe(0);
    expect(snapshot(ours)).toEqual({ 'A.txt': 'file:UPPER', 'a.txt': 'file:last' });
    if (hasTool('cabextract')) {
      const theirs = path.join(root, `d${n++}`);
      execFileSync('cabextract', ['-q', '-d', theirs, f]);
      expect(snapshot(theirs)).toEqual(snapshot(ours));
    } else skipNote('cabextract duplicate-name comparison', 'cabextract');
  });

  it('only the members chosen count', async () => {
    const f = cab('dup.cab', [file('a.txt', '1'), file('a.txt', '2'), file('b.txt', '3')]);
    const dest = path.join(root, `d${n++}`);
    const r = await runCli('extract', f, 'b.txt', '-d', dest);
    expect(r.code).toBe(0);
    expect(r.stderr).toBe('');
    expect(readdirSync(dest)).toEqual(['b.txt']);
  });
});

describe('a member that needs another member to be a directory', () => {
  for (const [order, files] of [
    ['file first', [file('x', 'file x'), file('x\\y', 'file y')]],
    ['directory first', [file('x\\y', 'file y'), file('x', 'file x')]],
  ] as const) {
    it(`is bad input (exit 3) naming both members, nothing written (${order})`, async () => {
      const f = cab('f.cab', [file('ok.txt', 'ok'), ...files]);
      // a target that does not exist stays absent; one that exists stays as it was
      const absent = path.join(root, `d${n++}`);
      const r = await runCli('extract', f, '-d', absent);
      expect(r.code).toBe(3);
      expect(r.stderr).toBe(`msu: ${f}: member x\\y needs x to be a directory, but member x is a file\n`);
      expect(existsSync(absent)).toBe(false);
      const there = path.join(root, `d${n++}`);
      mkdirSync(there);
      writeFileSync(path.join(there, 'mine.txt'), 'mine');
      expect((await runCli('extract', f, '-d', there, '--overwrite')).code).toBe(3);
      expect(snapshot(there)).toEqual({ 'mine.txt': 'file:mine' });
      // deeper, in the other separator: the member named as the cabinet spells it
      const g = cab('g.cab', [file('p/q/r.txt', 'r'), file('p\\q', 'q')]);
      expect((await runCli('extract', g, '-d', absent)).stderr).toBe(`msu: ${g}: member p/q/r.txt needs p\\q to be a directory, but member p\\q is a file\n`);
      expect(existsSync(absent)).toBe(false);
    });
  }

  it('is no conflict when only one of them is chosen, or when they differ in case', async () => {
    const f = cab('f.cab', [file('x', 'file x'), file('x\\y', 'file y'), file('X\\z', 'file z')]);
    const dest = path.join(root, `d${n++}`);
    expect((await runCli('extract', f, 'x', 'X\\z', '-d', dest)).code).toBe(0);
    expect(snapshot(dest)).toEqual({ X: 'dir', 'X/z': 'file:file z', x: 'file:file x' });
    expect(readFileSync(path.join(dest, 'x'), 'utf8')).toBe('file x');
  });
});

describe('msu verify', () => {
  it('text output escapes member names; --json keeps them', async () => {
    const inner = Buffer.from(buildCabinet({ folders: [{ compression: 'none', files: [file('update.mum', '<assembly/>'), file(ESC_NAME, 'x')] }] }));
    const f = cab('Windows10.0-KB5000003-x64.msu', [{ name: 'Windows10.0-KB5000003-x64\x1b[2J.cab', data: inner }, file(NL_NAME, 'two')]);
    const r = await runCli('verify', f);
    expect(r.code).toBe(1); // no catalog lists update.mum
    expect(r.stdout + r.stderr).not.toMatch(CONTROL);
    expect(r.stdout).toContain('\n  Windows10.0-KB5000003-x64\\x1b[2J.cab (cabinet): ');
    const j = JSON.parse((await runCli('verify', f, '--json')).stdout) as unknown;
    expect(JSON.stringify(j)).toContain('Windows10.0-KB5000003-x64\\u001b[2J.cab');
  });
});
