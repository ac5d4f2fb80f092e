import { describe, expect, it } from 'vitest';
import { detectCbsFileKind, parseCbsFile } from '../../src/cbs/index.js';
import { PKG_PROPERTIES, ROLLUP_MUM, UPDATE_SES } from './fixtures.js';

const b = (s: string): Uint8Array => Buffer.from(s, 'utf8');

describe('detectCbsFileKind / parseCbsFile', () => {
  it('by content', () => {
    expect(detectCbsFileKind(b(ROLLUP_MUM), 'anything')).toBe('mum');
    expect(detectCbsFileKind(b('<?xml version="1.0"?><!-- c --><assembly><assemblyIdentity name="a"/><file name="x"/></assembly>'), 'x')).toBe('manifest');
    expect(detectCbsFileKind(b(UPDATE_SES), 'x')).toBe('ses');
    expect(detectCbsFileKind(Buffer.from('\uFEFF' + PKG_PROPERTIES, 'utf16le'), 'x')).toBe('pkgprops');
    expect(detectCbsFileKind(Uint8Array.from([0x44, 0x43, 0x4e, 0x01, 0x50, 0x41, 0x33, 0x30]), 'x.bin')).toBe('manifest');
    expect(detectCbsFileKind(b('<Container xmlns="urn:ContainerIndex"/>'), '_manifest_.cix.xml')).toBeNull();
  });

  it('the name decides between .mum and .manifest for an assembly root', () => {
    const deployment = b('<assembly><assemblyIdentity name="a" version="1.0.0.0"/><deployment/></assembly>');
    expect(detectCbsFileKind(deployment, 'x.mum')).toBe('mum');
    expect(detectCbsFileKind(deployment, 'x.manifest')).toBe('manifest');
    expect(detectCbsFileKind(b('garbage'), 'foo.mum')).toBe('mum');
  });

  it('parseCbsFile returns the tagged model', () => {
    const r = parseCbsFile(b(UPDATE_SES), 'dir/update.ses');
    expect(r.kind).toBe('ses');
    if (r.kind === 'ses') expect(r.ses.phases[1]!.packages).toHaveLength(2);
  });

  it('empty and unknown files are typed errors naming the file', () => {
    expect(() => parseCbsFile(new Uint8Array(0), 'empty')).toThrowError(expect.objectContaining({ code: 'E_CBS_EMPTY', file: 'empty' }));
    expect(() => parseCbsFile(b('hello'), 'hello.dat')).toThrowError(expect.objectContaining({ code: 'E_CBS_UNKNOWN_KIND', file: 'hello.dat', kind: 'input' }));
  });
});
