import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { EXIT } from '../../src/errors.js';
import { runCli } from '../helpers/cli.js';
import { corpusPath, hasCorpus } from '../helpers/corpus.js';
import { PKG_PROPERTIES, ROLLUP_MUM, UPDATE_SES } from './fixtures.js';

const dir = mkdtempSync(path.join(tmpdir(), 'msu-cbs-cli-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const put = (name: string, data: string | Uint8Array): string => {
  const p = path.join(dir, name);
  writeFileSync(p, data);
  return p;
};

const MANIFEST = `<assembly xmlns="urn:schemas-microsoft-com:asm.v3" manifestVersion="1.0">
  <assemblyIdentity name="Microsoft-Windows-DirectComposition" version="10.0.26100.8972" processorArchitecture="amd64" language="neutral" publicKeyToken="31bf3856ad364e35" versionScope="nonSxS"/>
  <file name="dcomp.dll"><hash xmlns="urn:schemas-microsoft-com:asm.v2"><DigestMethod Algorithm="http://www.w3.org/2000/09/xmldsig#sha1"/><DigestValue>${Buffer.alloc(20, 1).toString('base64')}</DigestValue></hash></file>
</assembly>`;

describe('msu cbs', () => {
  it('summarises a .mum: id, KB, class, parents, updates', async () => {
    const r = await runCli('cbs', put('update.mum', ROLLUP_MUM));
    expect(r.code).toBe(EXIT.ok);
    const lines = r.stdout.split('\n');
    expect(lines[0]).toBe('package     Package_for_RollupFix~31bf3856ad364e35~amd64~~26100.9457.1.12');
    expect(lines).toContain('identifier  KB5129195');
    expect(lines).toContain('class       lcu (package name Package_for_RollupFix)');
    expect(lines).toContain('parent      Microsoft-Windows-Foundation-Package 10.0.26100.1 buildCompare=EQ serviceCompare=GE revisionCompare=GE distributionCompare=GE');
    expect(lines).toContain('updates     4');
    expect(lines).toContain('  driver    dual_netvg63a.inf 10.0.26100.9457  (5129195-3_neutral_DRIVER)');
  });

  it('--json prints the full model as canonical JSON', async () => {
    const r = await runCli('cbs', '--json', put('pkg.mum', ROLLUP_MUM));
    expect(r.code).toBe(EXIT.ok);
    const j = JSON.parse(r.stdout);
    expect(j.kind).toBe('mum');
    expect(j.mum.package.customInformation.PSFXDeltaFormat).toBe('ForwardOnly');
    expect(j.mum.package.parents[0].identity.name).toBe('Microsoft-Windows-Foundation-Package');
    // canonical: keys sorted at every level
    expect(Object.keys(j.mum)).toEqual(['assembly', 'identity', 'package', 'packageId']);
    expect(r.stdout.endsWith('}\n')).toBe(true);
  });

  it('detects a component manifest by content even with another extension', async () => {
    const r = await runCli('cbs', put('component.xml', MANIFEST));
    expect(r.code).toBe(EXIT.ok);
    expect(r.stdout).toContain('keyform     amd64_microsoft-windows-directcomposition_31bf3856ad364e35_10.0.26100.8972_none_3907531ff1ec3e71\n');
    expect(r.stdout).toContain(`  dcomp.dll  sha1:${'01'.repeat(20)}\n`);
  });

  it('update.ses and a UTF-16LE pkgProperties.txt', async () => {
    const s = await runCli('cbs', put('update.ses', UPDATE_SES));
    expect(s.code).toBe(EXIT.ok);
    expect(s.stdout).toContain('operationMode OfflineInstall\n');
    expect(s.stdout).toContain('  Package_for_KB2883457~31bf3856ad364e35~amd64~~6.1.1.0 -> Absent\n');
    const bytes = Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from(PKG_PROPERTIES, 'utf16le')]);
    const p = await runCli('cbs', '--json', put('Windows10.0-KB3157663-x64-pkgProperties.txt', bytes));
    expect(p.code).toBe(EXIT.ok);
    expect(JSON.parse(p.stdout).props.kb).toBe('KB3157663');
  });

  it.skipIf(!hasCorpus)('a DCM-compressed manifest without a base manifest exits "usage" with one line saying what to pass', async () => {
    const f = corpusPath('manifests', 'amd64_microsoft-windows-core_31bf3856ad364e35_10.0.26100.1_none_a943f5e781a44c5c.manifest');
    const r = await runCli('cbs', f);
    expect(r.code).toBe(EXIT.usage);
    expect(r.stdout).toBe('');
    expect(r.stderr).toBe(
      `msu: ${f}: a DCM manifest is a delta against the base manifest in wcp.dll of the same servicing build: pass --base-manifest FILE, --wcp wcp.dll, or set MSU_BASE_MANIFEST\n`,
    );
  });

  it('bad input: exit codes and one-line messages, never a stack', async () => {
    const bad = await runCli('cbs', put('bad.mum', '<assembly><assemblyIdentity name="x"></assembly>'));
    expect(bad.code).toBe(EXIT.input);
    expect(bad.stderr).toMatch(/^msu: .*bad\.mum: malformed XML: .*\n$/);
    const lol = await runCli('cbs', put('lol.mum', '<!DOCTYPE a [<!ENTITY a "x">]><assembly>&a;</assembly>'));
    expect(lol.code).toBe(EXIT.input);
    expect(lol.stderr).toContain('document type declarations are not allowed');
    const unknown = await runCli('cbs', put('data.bin', Uint8Array.from([1, 2, 3, 4])));
    expect(unknown.code).toBe(EXIT.input);
    expect(unknown.stderr).toContain('not a recognised CBS file');
    const missing = await runCli('cbs', path.join(dir, 'nope.mum'));
    expect(missing.code).toBe(EXIT.io);
    expect(missing.stderr).toContain('nope.mum: cannot read: no such file or directory');
    const isDir = await runCli('cbs', dir);
    expect(isDir.code).toBe(EXIT.io);
    expect(isDir.stderr).toContain('is a directory');
    const kind = await runCli('cbs', '--kind', 'cix', put('x.mum', ROLLUP_MUM));
    expect(kind.code).toBe(EXIT.usage);
    for (const r of [bad, lol, unknown, missing, isDir, kind]) expect(r.stderr).not.toMatch(/\n\s+at /);
  });

  it('--kind forces the parser', async () => {
    const r = await runCli('cbs', '--kind', 'ses', put('forced.mum', ROLLUP_MUM));
    expect(r.code).toBe(EXIT.input);
    expect(r.stderr).toContain('not an update.ses: root element is <assembly>');
  });
});
