// Generator of a wsusscn2-shaped offline-scan cabinet at real scale, from the shapes of the
// fragments in the real WSUSSCAN.cab (docs/scancab.md): an index package.cab with package.xml,
// and package2.cab … packageN.cab holding core/, extended/ and localized/en/ fragments
// (at most 65,535 members a cabinet, which is why the real file is split).
import { createHash } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { buildCabinet } from '../../dist/src/cab/writer.js';

const enc = new TextEncoder();
const gid = (n) => {
  const h = createHash('md5').update(String(n)).digest('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-4${h.slice(13, 16)}-8${h.slice(17, 20)}-${h.slice(20, 32)}`;
};
const PRODUCTS = ['Windows 7', 'Windows 8.1', 'Windows 10', 'Windows Server 2016', 'Windows Server 2019', 'Office 2016', '.NET Framework 4.8'];
const CLASSES = ['Security Updates', 'Critical Updates', 'Update Rollups', 'Service Packs'];
const SEV = ['Critical', 'Important', 'Moderate', 'Low', ''];

/** The update model of revision `rev` (deterministic). Revisions 1..11 are the categories. */
export function genUpdate(rev, total) {
  const cats = PRODUCTS.length + CLASSES.length;
  if (rev <= cats) {
    const isProduct = rev <= PRODUCTS.length;
    return { rev, id: gid(rev), type: 'Category', title: isProduct ? PRODUCTS[rev - 1] : CLASSES[rev - 1 - PRODUCTS.length] };
  }
  const i = rev - cats;
  // every third revision is a leaf bundled by the next one
  const isLeaf = i % 3 === 1;
  const isBundle = i % 3 === 2;
  const kb = 3000000 + Math.floor(i / 3);
  const u = {
    rev, id: gid(rev), type: 'Software', kb: isLeaf ? undefined : String(kb),
    severity: isLeaf ? undefined : SEV[i % SEV.length],
    title: `${i % 4 === 0 ? 'Security Update' : 'Update'} for ${PRODUCTS[i % PRODUCTS.length]} (KB${kb})`,
    bundle: isBundle, bundledBy: isLeaf ? [rev + 1] : [],
    categories: isLeaf ? [] : [
      { type: 'Company', id: gid(0) },
      { type: 'Product', id: gid(1 + (i % PRODUCTS.length)) },
      { type: 'ProductFamily', id: gid(1 + (i % PRODUCTS.length)) },
      { type: 'UpdateClassification', id: gid(1 + PRODUCTS.length + (i % CLASSES.length)) },
    ],
    prereqs: [gid(1 + (i % PRODUCTS.length)), gid(rev - 1)],
    supersededBy: !isLeaf && rev + 30 <= total && i % 5 === 0 ? [rev + 30] : [],
    payload: isLeaf ? [{ name: `windows-kb${kb}-x64_${i}.msu`, sha1b64: createHash('sha1').update(`p${rev}`).digest('base64'), size: 1000 + (i % 100000) }] : [],
  };
  return u;
}

function updateXml(u) {
  const parts = [];
  if (u.categories?.length) parts.push(`<Categories>${u.categories.map((c) => `<Category Type="${c.type}" Id="${c.id}" />`).join('')}</Categories>`);
  if (u.payload?.length) parts.push(`<PayloadFiles>${u.payload.map((p) => `<File Id="${p.sha1b64}" />`).join('')}</PayloadFiles>`);
  if (u.prereqs?.length) parts.push(`<Prerequisites><UpdateId Id="${u.prereqs[0]}" /><Or>${u.prereqs.map((p) => `<UpdateId Id="${p}" />`).join('')}</Or></Prerequisites>`);
  if (u.bundledBy?.length) parts.push(`<BundledBy>${u.bundledBy.map((r) => `<Revision Id="${r}" />`).join('')}</BundledBy>`);
  if (u.supersededBy?.length) parts.push(`<SupersededBy>${u.supersededBy.map((r) => `<Revision Id="${r}" />`).join('')}</SupersededBy>`);
  const attrs = `CreationDate="2024-01-09T18:00:00Z" DefaultLanguage="en" UpdateId="${u.id}" RevisionNumber="201" RevisionId="${u.rev}"${u.bundledBy?.length ? ' DeploymentAction="Bundle"' : u.type === 'Category' ? ' DeploymentAction="Evaluate"' : ''} IsLeaf="true"${u.bundle ? ' IsBundle="true"' : ''}${u.type === 'Category' ? ' IsSoftware="false"' : ''}`;
  return parts.length ? `<Update ${attrs}>${parts.join('')}</Update>` : `<Update ${attrs} />`;
}

function fragments(u) {
  const core = `<UpdateIdentity UpdateID="${u.id}" RevisionNumber="201" /><Properties UpdateType="${u.type}" /><Relationships><Prerequisites><AtLeastOne IsCategory="true"><UpdateIdentity UpdateID="${gid(1)}" /></AtLeastOne></Prerequisites></Relationships><ApplicabilityRules><IsInstalled><b.FileExists Csidl="37" Path="\\kb${u.kb ?? u.rev}.dll" /></IsInstalled><IsInstallable><b.WindowsVersion Comparison="EqualTo" MajorVersion="10" MinorVersion="0" /></IsInstallable></ApplicabilityRules>`;
  const files = u.payload?.length ? `<Files>${u.payload.map((p) => `<File Digest="${p.sha1b64}" DigestAlgorithm="SHA1" FileName="${p.name}" Size="${p.size}" Modified="2024-01-09T18:00:00" />`).join('')}</Files>` : '';
  const ext = `<ExtendedProperties DefaultPropertiesLanguage="en"${u.severity ? ` MsrcSeverity="${u.severity}"` : ''} IsBeta="false">${u.kb ? `<SupportUrl>http://support.microsoft.com</SupportUrl><KBArticleID>${u.kb}</KBArticleID>` : ''}</ExtendedProperties>${files}`;
  const loc = `<LocalizedProperties><Language>en</Language><Title>${u.title}</Title><Description>A security issue has been identified that could allow an attacker to compromise your system.</Description></LocalizedProperties>`;
  return [
    { name: `core\\${u.rev}`, data: enc.encode(core) },
    { name: `extended\\${u.rev}`, data: enc.encode(ext) },
    { name: `localized\\en\\${u.rev}`, data: enc.encode(loc) },
  ];
}

/** Write the cabinet; returns its shape. */
export function generate(file, revisions) {
  const us = [];
  for (let r = 1; r <= revisions; r++) us.push(genUpdate(r, revisions));
  const xmlParts = [`\uFEFF<?xml version="1.0" encoding="utf-8"?><OfflineSyncPackage MinimumClientVersion="5.8.0.2678" ProtocolVersion="1.0" PackageId="${gid(-1)}" SourceId="${gid(-2)}" CreationDate="2024-01-09T18:00:00Z" PackageVersion="1.1" xmlns="http://schemas.microsoft.com/msus/2004/02/OfflineSync"><Updates>`];
  for (const u of us) xmlParts.push(updateXml(u));
  xmlParts.push('</Updates><FileLocations>');
  for (const u of us) for (const p of u.payload ?? []) xmlParts.push(`<FileLocation Id="${p.sha1b64}" Url="http://download.windowsupdate.com/c/msdownload/update/software/secu/2024/01/${p.name}" />`);
  xmlParts.push('</FileLocations></OfflineSyncPackage>');
  const xml = Buffer.from(xmlParts.join(''), 'utf8');
  const outerFiles = [{ name: 'package.cab', data: buildCabinet({ folders: [{ compression: 'mszip', files: [{ name: 'package.xml', data: xml }] }] }) }];
  const perCab = 20000; // 60,000 fragments a cabinet, under the 65,535 member limit
  for (let i = 0, n = 2; i < us.length; i += perCab, n++) {
    const files = us.slice(i, i + perCab).flatMap(fragments);
    outerFiles.push({ name: `package${n}.cab`, data: buildCabinet({ folders: [{ compression: 'mszip', files }] }) });
  }
  const outer = buildCabinet({ folders: [{ compression: 'none', files: outerFiles }] });
  writeFileSync(file, outer);
  return { revisions, packageXmlBytes: xml.length, cabinets: outerFiles.length, bytes: outer.length };
}
