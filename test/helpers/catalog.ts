import * as asn1js from 'asn1js';

/**
 * DER pieces for hand-made, odd-shaped catalogs in the tests; well-formed catalogs come from the
 * library's writer (src/cbs/catalog-writer.ts). They are unsigned: `msu verify` notes that, and
 * signature checks are tested on the real corpus catalogs.
 */
type A = asn1js.AsnType;
export const seq = (...value: A[]): A => new asn1js.Sequence({ value });
export const set = (...value: A[]): A => new asn1js.Set({ value });
export const oid = (value: string): A => new asn1js.ObjectIdentifier({ value });
export const octets = (b: Uint8Array): A => new asn1js.OctetString({ valueHex: new Uint8Array(b) });
export const ctx0 = (v: A): A => new asn1js.Constructed({ idBlock: { tagClass: 3, tagNumber: 0 }, value: [v] });
export const der = (a: A): Uint8Array => new Uint8Array(a.toBER(false));

export { buildCatalog as v2Catalog, catalogOf, unsignedSignedData as signedData } from '../../src/cbs/catalog-writer.js';
