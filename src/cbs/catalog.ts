import * as asn1js from 'asn1js';
import * as pkijs from 'pkijs';
import { FormatError } from '../errors.js';

/**
 * Security catalogs (`.cat`, docs/cbs.md): a PKCS#7 SignedData whose content is a Certificate Trust
 * List (szOID_CTL). Each CTL entry is one catalog member: a tag (the member's digest, usually written as
 * UTF-16 hex text) and attributes: SPC_INDIRECT_DATA (digest algorithm + digest of the file),
 * CAT_MEMBERINFO, and CAT_NAMEVALUE pairs such as File or OSAttr.
 *
 * parseCatalog reads the content only; checkCatalogSignature (below) checks the signature over it.
 * The chain to a Microsoft root is verified by neither: a catalog says what its signer listed.
 */

export const OID = {
  signedData: '1.2.840.113549.1.7.2',
  ctl: '1.3.6.1.4.1.311.10.1',
  catalogList: '1.3.6.1.4.1.311.12.1.1',
  catalogListMemberV1: '1.3.6.1.4.1.311.12.1.2',
  catalogListMemberV2: '1.3.6.1.4.1.311.12.1.3',
  spcIndirectData: '1.3.6.1.4.1.311.2.1.4',
  spcPeImageData: '1.3.6.1.4.1.311.2.1.15',
  spcCabData: '1.3.6.1.4.1.311.2.1.25',
  catNameValue: '1.3.6.1.4.1.311.12.2.1',
  catMemberInfo: '1.3.6.1.4.1.311.12.2.2',
  catMemberInfo2: '1.3.6.1.4.1.311.12.2.3',
} as const;

const DIGEST_ALGS: Record<string, string> = {
  '1.3.14.3.2.26': 'SHA1',
  '2.16.840.1.101.3.4.2.1': 'SHA256',
  '2.16.840.1.101.3.4.2.2': 'SHA384',
  '2.16.840.1.101.3.4.2.3': 'SHA512',
  '1.2.840.113549.2.5': 'MD5',
};

export interface CatNameValue {
  name: string;
  flags: number;
  value: string;
}

export interface CatalogEntry {
  /** The member tag: lowercase hex digest when written as hex text (the usual case), else hex of its bytes. */
  tag: string;
  /** Digest from SPC_INDIRECT_DATA, lowercase hex. */
  digest?: string;
  /** SHA1, SHA256, ... (or the OID when unknown). */
  digestAlgorithm?: string;
  /** SPC_INDIRECT_DATA content type: 'PE' (Authenticode image hash), 'flat' (SPC_CAB_DATA: hash of the bytes) or the OID. */
  indirectType?: string;
  /** CAT_MEMBERINFO: subject GUID and version. */
  memberInfo?: { guid: string; version: number };
  /** CAT_NAMEVALUE attributes (File, OSAttr, ...), in catalog order. */
  attributes: CatNameValue[];
  /** Attribute OIDs not decoded above. */
  otherAttributes: string[];
}

export interface Catalog {
  /** Hex of the listIdentifier (a GUID-like byte string). */
  listIdentifier: string;
  /** CTL thisUpdate, ISO. */
  thisUpdate?: string;
  /** 'v1' (…12.1.2) or 'v2' (…12.1.3), or the OID. */
  subjectAlgorithm: string;
  entries: CatalogEntry[];
  /** Catalog-level CAT_NAMEVALUE attributes (OSAttr, HWID…). */
  attributes: CatNameValue[];
  /** Always false: parseCatalog does not check signatures (checkCatalogSignature does). */
  signatureVerified: false;
}

type Asn = asn1js.AsnType;

class CatReader {
  constructor(readonly file: string | undefined) {}

  fail(message: string, where?: string): FormatError {
    return new FormatError('E_CATALOG', message, { file: this.file, where });
  }

  seq(node: Asn | undefined, what: string): Asn[] {
    if (!(node instanceof asn1js.Sequence) && !(node instanceof asn1js.Set)) throw this.fail(`${what} is not a SEQUENCE/SET`);
    return node.valueBlock.value as Asn[];
  }

  oid(node: Asn | undefined, what: string): string {
    if (!(node instanceof asn1js.ObjectIdentifier)) throw this.fail(`${what} is not an OBJECT IDENTIFIER`);
    return node.valueBlock.toString();
  }

  octets(node: Asn | undefined, what: string): Uint8Array {
    if (!(node instanceof asn1js.OctetString)) throw this.fail(`${what} is not an OCTET STRING`);
    // A constructed OCTET STRING (BER) keeps its pieces in value; join them.
    if (node.valueBlock.isConstructed) {
      const parts = (node.valueBlock.value as asn1js.OctetString[]).map((p) => new Uint8Array(p.valueBlock.valueHexView));
      return Buffer.concat(parts);
    }
    return new Uint8Array(node.valueBlock.valueHexView);
  }
}

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

/** UTF-16LE bytes to text, dropping a trailing NUL. */
function utf16(b: Uint8Array): string {
  const n = b.length - (b.length % 2);
  return Buffer.from(b.subarray(0, n)).toString('utf16le').replace(/\0+$/, '');
}

function bmp(node: Asn | undefined): string | undefined {
  return node instanceof asn1js.BmpString ? node.valueBlock.value : undefined;
}

/** Small INTEGER from its bytes (asn1js's valueDec reads 0 for some 4-byte values). */
function int(node: Asn | undefined): number | undefined {
  if (!(node instanceof asn1js.Integer)) return undefined;
  const b = node.valueBlock.valueHexView;
  if (b.length === 0 || b.length > 6) return undefined;
  let u = 0;
  for (const x of b) u = u * 256 + x;
  return b[0]! & 0x80 ? u - 256 ** b.length : u;
}

/** asn1js decodes recursively: hostile nesting can exhaust the stack, which is a malformed file too. */
function decodeBer(bytes: Uint8Array, r: CatReader, what: string): { result: Asn } {
  let ber: ReturnType<typeof asn1js.fromBER>;
  try {
    ber = asn1js.fromBER(bytes);
  } catch (err) {
    throw r.fail(`${what} is not DER/BER: ${(err as Error).message}`);
  }
  if (ber.offset === -1) throw r.fail(`${what} is not DER/BER: ${ber.result.error || 'undecodable'}`);
  return ber;
}

/** The PKCS#7 SignedData around a catalog, decoded once for both the content and the signature. */
function decodeSignedData(bytes: Uint8Array, r: CatReader): pkijs.SignedData {
  const ber = decodeBer(bytes, r, 'catalog');
  try {
    const ci = new pkijs.ContentInfo({ schema: ber.result });
    if (ci.contentType !== OID.signedData) throw r.fail(`ContentInfo type is ${ci.contentType}, expected signedData`);
    return new pkijs.SignedData({ schema: ci.content });
  } catch (err) {
    if (err instanceof FormatError) throw err;
    throw r.fail(`not a PKCS#7 SignedData: ${(err as Error).message}`);
  }
}

function contentOf(signed: pkijs.SignedData, r: CatReader): Catalog {
  const eci = signed.encapContentInfo;
  if (eci.eContentType !== OID.ctl) throw r.fail(`SignedData content is ${eci.eContentType}, expected a CTL (${OID.ctl})`);
  // PKCS#7 catalogs put the CTL SEQUENCE directly in [0]; CMS would wrap it in an OCTET STRING.
  let ctl: Asn | undefined = eci.eContent as Asn | undefined;
  if (ctl instanceof asn1js.OctetString) {
    ctl = decodeBer(r.octets(ctl, 'eContent'), r, 'CTL content').result;
  }
  return parseCtl(r.seq(ctl, 'CTL'), r);
}

/** Parse a catalog's content. Throws FormatError naming the file on anything that is not a CTL catalog. */
export function parseCatalog(bytes: Uint8Array, file?: string): Catalog {
  const r = new CatReader(file);
  return contentOf(decodeSignedData(bytes, r), r);
}

function parseCtl(fields: Asn[], r: CatReader): Catalog {
  // CTL ::= SEQUENCE { version INTEGER DEFAULT v1, subjectUsage, listIdentifier OPTIONAL, sequenceNumber
  //   INTEGER OPTIONAL, thisUpdate, nextUpdate OPTIONAL, subjectAlgorithm, trustedSubjects OPTIONAL,
  //   ctlExtensions [0] EXPLICIT OPTIONAL }
  let i = 0;
  if (fields[i] instanceof asn1js.Integer) i++;
  const usage = r.seq(fields[i++], 'CTL subjectUsage').map((o) => r.oid(o, 'subjectUsage'));
  if (!usage.includes(OID.catalogList)) throw r.fail(`CTL subjectUsage ${usage.join(',')} is not a catalog list`);
  let listIdentifier = '';
  if (fields[i] instanceof asn1js.OctetString) listIdentifier = hex(r.octets(fields[i++], 'listIdentifier'));
  if (fields[i] instanceof asn1js.Integer) i++;
  let thisUpdate: string | undefined;
  const tu = fields[i];
  if (tu instanceof asn1js.UTCTime || tu instanceof asn1js.GeneralizedTime) {
    thisUpdate = tu.toDate().toISOString();
    i++;
  } else throw r.fail('CTL thisUpdate is missing');
  const nu = fields[i];
  if (nu instanceof asn1js.UTCTime || nu instanceof asn1js.GeneralizedTime) i++;
  const algOid = r.oid(r.seq(fields[i++], 'CTL subjectAlgorithm')[0], 'subjectAlgorithm');
  const subjectAlgorithm = algOid === OID.catalogListMemberV1 ? 'v1' : algOid === OID.catalogListMemberV2 ? 'v2' : algOid;

  const entries: CatalogEntry[] = [];
  let attributes: CatNameValue[] = [];
  for (; i < fields.length; i++) {
    const f = fields[i]!;
    if (f instanceof asn1js.Sequence) {
      let n = 0;
      for (const e of r.seq(f, 'trustedSubjects')) entries.push(parseEntry(r.seq(e, `CTL entry ${n}`), r, n++));
    } else if (f.idBlock.tagClass === 3 && f.idBlock.tagNumber === 0) {
      const inner = (f as asn1js.Constructed).valueBlock.value[0];
      attributes = parseExtensions(r.seq(inner, 'ctlExtensions'), r);
    }
  }
  return { listIdentifier, ...(thisUpdate ? { thisUpdate } : {}), subjectAlgorithm, entries, attributes, signatureVerified: false };
}

function parseEntry(fields: Asn[], r: CatReader, n: number): CatalogEntry {
  const where = `CTL entry ${n}`;
  const tagBytes = r.octets(fields[0], `${where} subjectIdentifier`);
  const text = utf16(tagBytes);
  const tag = /^[0-9A-Fa-f]+$/.test(text) && text.length >= 8 ? text.toLowerCase() : hex(tagBytes);
  const entry: CatalogEntry = { tag, attributes: [], otherAttributes: [] };
  const attrs = fields[1] === undefined ? [] : r.seq(fields[1], `${where} attributes`);
  for (const a of attrs) {
    const [typeNode, valuesNode] = r.seq(a, `${where} attribute`);
    const type = r.oid(typeNode, `${where} attribute type`);
    const values = r.seq(valuesNode, `${where} attribute values`);
    const v = values[0];
    if (type === OID.spcIndirectData) {
      const [data, digestInfo] = r.seq(v, `${where} SPC_INDIRECT_DATA`);
      const dataType = r.oid(r.seq(data, `${where} SpcAttributeTypeAndOptionalValue`)[0], `${where} indirect data type`);
      entry.indirectType = dataType === OID.spcPeImageData ? 'PE' : dataType === OID.spcCabData ? 'flat' : dataType;
      const [alg, digest] = r.seq(digestInfo, `${where} DigestInfo`);
      const algOid = r.oid(r.seq(alg, `${where} digestAlgorithm`)[0], `${where} digest algorithm`);
      entry.digestAlgorithm = DIGEST_ALGS[algOid] ?? algOid;
      entry.digest = hex(r.octets(digest, `${where} digest`));
    } else if (type === OID.catMemberInfo) {
      const [guid, version] = r.seq(v, `${where} CAT_MEMBERINFO`);
      entry.memberInfo = { guid: bmp(guid) ?? '', version: int(version) ?? 0 };
    } else if (type === OID.catNameValue) {
      for (const nv of values) entry.attributes.push(nameValue(r.seq(nv, `${where} CAT_NAMEVALUE`), r, where));
    } else {
      entry.otherAttributes.push(type);
    }
  }
  return entry;
}

function nameValue(fields: Asn[], r: CatReader, where: string): CatNameValue {
  const name = bmp(fields[0]);
  if (name === undefined) throw r.fail(`${where}: CAT_NAMEVALUE name is not a BMPString`);
  return { name, flags: int(fields[1]) ?? 0, value: utf16(r.octets(fields[2], `${where} CAT_NAMEVALUE value`)) };
}

/** ctlExtensions: SEQUENCE OF Extension { extnID, critical?, extnValue OCTET STRING (DER of the value) }. */
function parseExtensions(exts: Asn[], r: CatReader): CatNameValue[] {
  const out: CatNameValue[] = [];
  for (const ext of exts) {
    const f = r.seq(ext, 'ctlExtension');
    const id = r.oid(f[0], 'ctlExtension id');
    if (id !== OID.catNameValue) continue;
    const value = r.octets(f[f.length - 1], 'ctlExtension value');
    const inner = decodeBer(value, r, 'catalog attribute value');
    out.push(nameValue(r.seq(inner.result, 'catalog CAT_NAMEVALUE'), r, 'catalog attribute'));
  }
  return out;
}

/** True when any member of the catalog lists this digest (SHA-1 or SHA-256 hex, any case), by tag or indirect-data digest. */
export function catalogHasDigest(cat: Catalog, digestHex: string): boolean {
  const d = digestHex.toLowerCase();
  return cat.entries.some((e) => e.digest === d || e.tag === d);
}

export interface CatalogSignature {
  /** `intact`: the signer's signature over the catalog content verifies; `broken`: it does not; `unsigned`: no SignerInfo. */
  state: 'intact' | 'broken' | 'unsigned';
  /** Subject common name of the signing certificate, when found. */
  signer?: string;
  /** Why `broken`. */
  reason?: string;
}

function commonName(cert: pkijs.Certificate): string | undefined {
  const cn = cert.subject.typesAndValues.find((t) => t.type === '2.5.4.3');
  return cn ? String((cn.value.valueBlock as { value?: unknown }).value ?? '') : undefined;
}

/**
 * Check the catalog's own signature: the content digest in the signed attributes and the
 * signer's RSA/ECDSA signature over them, with the signing certificate the catalog carries.
 * The chain to a Microsoft root and the certificates' validity dates are NOT checked (no trust
 * store here): `intact` means the catalog is as its signer signed it, not who the signer is.
 */
export async function checkCatalogSignature(bytes: Uint8Array, file?: string): Promise<CatalogSignature> {
  return signatureOf(decodeSignedData(bytes, new CatReader(file)));
}

/** Content and signature of a catalog from one decode (a package's update.cat can list 20,000 members). */
export async function readCatalog(bytes: Uint8Array, file?: string): Promise<{ catalog: Catalog; signature: CatalogSignature }> {
  const r = new CatReader(file);
  const signed = decodeSignedData(bytes, r);
  return { catalog: contentOf(signed, r), signature: await signatureOf(signed) };
}

async function signatureOf(signed: pkijs.SignedData): Promise<CatalogSignature> {
  if (signed.signerInfos.length === 0) return { state: 'unsigned' };
  const si = signed.signerInfos[0]!;
  let signer: string | undefined;
  const sid = si.sid;
  if (sid instanceof pkijs.IssuerAndSerialNumber) {
    const cert = (signed.certificates ?? []).find(
      (c): c is pkijs.Certificate => c instanceof pkijs.Certificate && c.serialNumber.isEqual(sid.serialNumber) && c.issuer.isEqual(sid.issuer),
    );
    if (cert) signer = commonName(cert);
  }
  try {
    const v = await signed.verify({ signer: 0, checkChain: false, extendedMode: true });
    if (v.signatureVerified) return { state: 'intact', ...(signer ? { signer } : {}) };
    return { state: 'broken', ...(signer ? { signer } : {}), reason: v.message || 'the signature does not verify' };
  } catch (err) {
    const e = err as { message?: string; code?: number };
    return { state: 'broken', ...(signer ? { signer } : {}), reason: e.message || `verification failed (code ${e.code ?? '?'})` };
  }
}
