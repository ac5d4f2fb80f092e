import { createHash } from 'node:crypto';
import * as asn1js from 'asn1js';
import { OID } from '../../src/cbs/catalog.js';

/**
 * DER builders for hand-made catalogs (PKCS#7 SignedData wrapping a CTL). Unsigned: `msu verify`
 * notes a catalog without a signature; signature checks are tested on the real corpus catalogs.
 */
type A = asn1js.AsnType;
export const seq = (...value: A[]): A => new asn1js.Sequence({ value });
export const set = (...value: A[]): A => new asn1js.Set({ value });
export const oid = (value: string): A => new asn1js.ObjectIdentifier({ value });
export const octets = (b: Uint8Array): A => new asn1js.OctetString({ valueHex: new Uint8Array(b) });
const bmp = (value: string): A => new asn1js.BmpString({ value });
const int = (value: number): A => new asn1js.Integer({ value });
export const ctx0 = (v: A): A => new asn1js.Constructed({ idBlock: { tagClass: 3, tagNumber: 0 }, value: [v] });
const utf16z = (s: string): Uint8Array => Buffer.from(`${s}\0`, 'utf16le');
export const der = (a: A): Uint8Array => new Uint8Array(a.toBER(false));
const SHA256 = '2.16.840.1.101.3.4.2.1';

export function signedData(contentType: string, content: A): Uint8Array {
  const sd = seq(int(1), set(seq(oid('1.3.14.3.2.26'), new asn1js.Null())), seq(oid(contentType), ctx0(content)), set());
  return der(seq(oid(OID.signedData), ctx0(sd)));
}

function nameValue(name: string, flags: number, value: string): A {
  return seq(bmp(name), int(flags), octets(utf16z(value)));
}

/** A v2 catalog whose members are flat SHA-256 digests named by a File attribute, like Windows 10+ package catalogs. */
export function v2Catalog(members: Array<{ file: string; sha256: Uint8Array }>): Uint8Array {
  const entries = members.map((m) => seq(
    octets(utf16z(Buffer.from(m.sha256).toString('hex').toUpperCase())),
    set(
      seq(oid(OID.catNameValue), set(nameValue('File', 0x10010001, m.file))),
      seq(oid(OID.spcIndirectData), set(seq(seq(oid(OID.spcCabData), new asn1js.Null()), seq(seq(oid(SHA256), new asn1js.Null()), octets(m.sha256))))),
      seq(oid(OID.catMemberInfo2), set(new asn1js.Null())),
    ),
  ));
  const ctl = seq(
    seq(oid(OID.catalogList)),
    octets(Buffer.from('00112233445566778899aabbccddeeff', 'hex')),
    new asn1js.UTCTime({ valueDate: new Date(Date.UTC(2024, 0, 2, 3, 4, 5)) }),
    seq(oid(OID.catalogListMemberV2), new asn1js.Null()),
    seq(...entries),
    ctx0(seq(seq(oid(OID.catNameValue), octets(der(nameValue('OSAttr', 0x10001, '2:10.0')))))),
  );
  return signedData(OID.ctl, ctl);
}

/** A v2 catalog listing the SHA-256 of each given file. */
export function catalogOf(files: Record<string, Uint8Array | string>): Uint8Array {
  return v2Catalog(Object.entries(files).map(([file, data]) => ({ file, sha256: createHash('sha256').update(data).digest() })));
}
