/**
 * Writes security catalogs in the shape Windows 10+ package catalogs have: a PKCS#7 SignedData
 * around a v2 CTL whose members are flat SHA-256 digests named by a File attribute. The
 * catalogs are unsigned (no SignerInfo): for synthetic packages (the bundled sample, tests),
 * which `msu verify` then reads like real ones and notes as unsigned.
 */
import { createHash } from 'node:crypto';
import * as asn1js from 'asn1js';
import { OID } from './catalog.js';

type A = asn1js.AsnType;
const seq = (...value: A[]): A => new asn1js.Sequence({ value });
const set = (...value: A[]): A => new asn1js.Set({ value });
const oid = (value: string): A => new asn1js.ObjectIdentifier({ value });
const octets = (b: Uint8Array): A => new asn1js.OctetString({ valueHex: new Uint8Array(b) });
const bmp = (value: string): A => new asn1js.BmpString({ value });
const int = (value: number): A => new asn1js.Integer({ value });
const ctx0 = (v: A): A => new asn1js.Constructed({ idBlock: { tagClass: 3, tagNumber: 0 }, value: [v] });
const utf16z = (s: string): Uint8Array => Buffer.from(`${s}\0`, 'utf16le');
const der = (a: A): Uint8Array => new Uint8Array(a.toBER(false));
const SHA1 = '1.3.14.3.2.26';
const SHA256 = '2.16.840.1.101.3.4.2.1';
/** CAT_NAMEVALUE flags as Microsoft writes them for File (and OSAttr). */
const FILE_FLAGS = 0x10010001;
const OSATTR_FLAGS = 0x10001;

/** PKCS#7 SignedData (version 1, SHA-1 digest algorithm listed, no certificates, no signers) around `content`. */
export function unsignedSignedData(contentType: string, content: A): Uint8Array {
  const sd = seq(int(1), set(seq(oid(SHA1), new asn1js.Null())), seq(oid(contentType), ctx0(content)), set());
  return der(seq(oid(OID.signedData), ctx0(sd)));
}

function nameValue(name: string, flags: number, value: string): A {
  return seq(bmp(name), int(flags), octets(utf16z(value)));
}

/** A v2 catalog listing flat SHA-256 digests, each member named by a File attribute. Deterministic for the same members. */
export function buildCatalog(members: Array<{ file: string; sha256: Uint8Array }>, opts: { osAttr?: string; listId?: Uint8Array; thisUpdate?: Date } = {}): Uint8Array {
  const entries = members.map((m) => seq(
    octets(utf16z(Buffer.from(m.sha256).toString('hex').toUpperCase())),
    set(
      seq(oid(OID.catNameValue), set(nameValue('File', FILE_FLAGS, m.file))),
      seq(oid(OID.spcIndirectData), set(seq(seq(oid(OID.spcCabData), new asn1js.Null()), seq(seq(oid(SHA256), new asn1js.Null()), octets(m.sha256))))),
      seq(oid(OID.catMemberInfo2), set(new asn1js.Null())),
    ),
  ));
  const ctl = seq(
    seq(oid(OID.catalogList)),
    octets(opts.listId ?? Buffer.from('00112233445566778899aabbccddeeff', 'hex')),
    new asn1js.UTCTime({ valueDate: opts.thisUpdate ?? new Date(Date.UTC(2024, 0, 2, 3, 4, 5)) }),
    seq(oid(OID.catalogListMemberV2), new asn1js.Null()),
    seq(...entries),
    ctx0(seq(seq(oid(OID.catNameValue), octets(der(nameValue('OSAttr', OSATTR_FLAGS, opts.osAttr ?? '2:10.0')))))),
  );
  return unsignedSignedData(OID.ctl, ctl);
}

/** A catalog listing the SHA-256 of each given file (name → content). */
export function catalogOf(files: Record<string, Uint8Array | string>): Uint8Array {
  return buildCatalog(Object.entries(files).map(([file, data]) => ({ file, sha256: createHash('sha256').update(data).digest() })));
}
