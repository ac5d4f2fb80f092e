import { buildCabinet, type CabWriteFile } from '../../src/cab/writer.js';

/** One update of a built offline-scan package (the shapes of the real WSUSSCAN.cab fragments). */
export interface FixtureUpdate {
  rev: number;
  id: string;
  kb?: string;
  title?: string;
  severity?: string;
  type?: 'Software' | 'Category' | 'Detectoid';
  bundle?: boolean;
  bundledBy?: number[];
  supersededBy?: number[];
  categories?: { type: string; id: string }[];
  prereqs?: string[];
  /** Payload files: name, bytes (the SHA-1 is computed), URL. */
  payload?: { name: string; sha1b64: string; size: number; url: string }[];
}

const enc = new TextEncoder();

export function packageXml(updates: FixtureUpdate[], extra = ''): string {
  const us = updates.map((u) => {
    const inner = [
      u.categories?.length ? `<Categories>${u.categories.map((c) => `<Category Type="${c.type}" Id="${c.id}" />`).join('')}</Categories>` : '',
      u.payload?.length ? `<PayloadFiles>${u.payload.map((p) => `<File Id="${p.sha1b64}" />`).join('')}</PayloadFiles>` : '',
      u.prereqs?.length ? `<Prerequisites>${u.prereqs.map((p) => `<UpdateId Id="${p}" />`).join('')}</Prerequisites>` : '',
      u.bundledBy?.length ? `<BundledBy>${u.bundledBy.map((r) => `<Revision Id="${r}" />`).join('')}</BundledBy>` : '',
      u.supersededBy?.length ? `<SupersededBy>${u.supersededBy.map((r) => `<Revision Id="${r}" />`).join('')}</SupersededBy>` : '',
    ].join('');
    const attrs = `CreationDate="2020-01-01T00:00:00Z" DefaultLanguage="en" UpdateId="${u.id}" RevisionNumber="200" RevisionId="${u.rev}"${u.bundledBy?.length ? ' DeploymentAction="Bundle"' : ''} IsLeaf="true"${u.bundle ? ' IsBundle="true"' : ''}`;
    return inner ? `<Update ${attrs}>${inner}</Update>` : `<Update ${attrs} />`;
  });
  const locs = updates.flatMap((u) => u.payload ?? []).map((p) => `<FileLocation Id="${p.sha1b64}" Url="${p.url}" />`);
  return `\uFEFF<?xml version="1.0" encoding="utf-8"?><OfflineSyncPackage MinimumClientVersion="5.8.0.2678" ProtocolVersion="1.0" PackageId="00000000-0000-4000-8000-000000000001" SourceId="00000000-0000-4000-8000-000000000002" CreationDate="2020-01-01T00:00:00Z" PackageVersion="1.1" xmlns="http://schemas.microsoft.com/msus/2004/02/OfflineSync">${extra}<Updates>${us.join('')}</Updates><FileLocations>${locs.join('')}</FileLocations></OfflineSyncPackage>`;
}

export function fragments(u: FixtureUpdate): CabWriteFile[] {
  const core = `<UpdateIdentity UpdateID="${u.id}" RevisionNumber="200" /><Properties UpdateType="${u.type ?? 'Software'}" /><ApplicabilityRules><IsInstalled><False /></IsInstalled></ApplicabilityRules>`;
  const files = u.payload?.length ? `<Files>${u.payload.map((p) => `<File Digest="${p.sha1b64}" DigestAlgorithm="SHA1" FileName="${p.name}" Size="${p.size}" Modified="2020-01-01T00:00:00" />`).join('')}</Files>` : '';
  const ext = `<ExtendedProperties DefaultPropertiesLanguage="en"${u.severity ? ` MsrcSeverity="${u.severity}"` : ''}>${u.kb ? `<KBArticleID>${u.kb}</KBArticleID>` : ''}</ExtendedProperties>${files}`;
  const loc = `<LocalizedProperties><Language>en</Language><Title>${u.title ?? `Update ${u.rev}`}</Title></LocalizedProperties>`;
  return [
    { name: `core\\${u.rev}`, data: enc.encode(core) },
    { name: `extended\\${u.rev}`, data: enc.encode(ext) },
    { name: `localized\\en\\${u.rev}`, data: enc.encode(loc) },
  ];
}

/** WSUSSCAN.cab form: one package.cab with package.xml and every fragment. */
export function buildScanCab(updates: FixtureUpdate[], opts: { xml?: string } = {}): Uint8Array {
  const inner = buildCabinet({
    folders: [{ compression: 'mszip', files: [{ name: 'package.xml', data: enc.encode(opts.xml ?? packageXml(updates)) }, ...updates.flatMap(fragments)] }],
  });
  return buildCabinet({ folders: [{ compression: 'none', files: [{ name: 'package.cab', data: inner }] }] });
}

/** wsusscn2.cab form: package.cab (package.xml) plus package2.cab … with the fragments split among them. */
export function buildScanCab2(updates: FixtureUpdate[], parts: number): Uint8Array {
  const files: CabWriteFile[] = [
    { name: 'package.cab', data: buildCabinet({ folders: [{ compression: 'mszip', files: [{ name: 'package.xml', data: enc.encode(packageXml(updates)) }] }] }) },
  ];
  const per = Math.ceil(updates.length / parts);
  for (let i = 0; i < parts; i++) {
    const slice = updates.slice(i * per, (i + 1) * per);
    files.push({ name: `package${i + 2}.cab`, data: buildCabinet({ folders: [{ compression: 'mszip', files: slice.flatMap(fragments) }] }) });
  }
  return buildCabinet({ folders: [{ compression: 'none', files }] });
}
