import { XmlPullTokenizer, type XmlPullHandler } from '../util/xml-pull.js';
import { ScanCabError } from './errors.js';
import type { ScanUpdate } from './types.js';

export interface PackageXml {
  packageId: string;
  protocolVersion: string;
  creationDate: string;
  updates: ScanUpdate[];
  fileLocations: Record<string, string>;
}

/** Largest RevisionId / RevisionNumber accepted: the index keeps them in 32-bit arrays. */
const MAX_ID = 0x7fffffff;

const int = (s: string | undefined, what: string, file?: string): number => {
  if (s === undefined || !/^\d{1,10}$/.test(s)) throw new ScanCabError(`${what} ${JSON.stringify(s ?? null)} is not a number`, file);
  const n = Number(s);
  if (n > MAX_ID) throw new ScanCabError(`${what} ${s} is out of range (at most ${MAX_ID})`, file);
  return n;
};

/**
 * Where the reader hands each Update and FileLocation as it is closed. The default
 * collects them into the PackageXml that end() returns; the index builder passes
 * its own, so that the updates of a 300,000-revision package are never all objects.
 */
export interface PackageXmlSink {
  update(u: ScanUpdate): void;
  fileLocation(id: string, url: string): void;
}

/**
 * The index `package.xml` (an OfflineSyncPackage) read as a stream: push decoded
 * text chunks, then end(). Only Updates/Update and FileLocations/FileLocation are
 * kept; EULA file lists and unknown elements are skipped.
 */
export class PackageXmlReader {
  private readonly tok: XmlPullTokenizer;
  private readonly path: string[] = [];
  private cur: ScanUpdate | null = null;
  private orGroup: string[] | null = null;
  private readonly out: PackageXml = { packageId: '', protocolVersion: '', creationDate: '', updates: [], fileLocations: {} };

  private readonly sink: PackageXmlSink;

  constructor(private readonly file?: string, sink?: PackageXmlSink) {
    this.sink = sink ?? {
      update: (u) => void this.out.updates.push(u),
      fileLocation: (id, url) => void (this.out.fileLocations[id] = url),
    };
    const h: XmlPullHandler = {
      open: (name, attrs) => this.open(name, attrs),
      close: (name) => this.close(name),
    };
    this.tok = new XmlPullTokenizer(h, file);
  }

  /** Updates read so far (for messages). */
  private count = 0;

  push(text: string): void {
    this.tok.push(text);
  }

  end(): PackageXml {
    this.tok.end();
    return this.out;
  }

  private open(name: string, a: Record<string, string>): void {
    const p = this.path;
    const depth = p.length;
    p.push(name);
    if (depth === 0) {
      if (name !== 'OfflineSyncPackage') throw new ScanCabError(`package.xml root is <${name}>, not <OfflineSyncPackage>`, this.file);
      this.out.packageId = a.PackageId ?? '';
      this.out.protocolVersion = a.ProtocolVersion ?? '';
      this.out.creationDate = a.CreationDate ?? '';
      return;
    }
    if (depth === 2 && name === 'Update' && p[1] === 'Updates') {
      const updateId = (a.UpdateId ?? '').toLowerCase();
      if (!/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/.test(updateId)) {
        throw new ScanCabError(`Update has no valid UpdateId (${JSON.stringify(a.UpdateId ?? null)})`, this.file, `Update #${this.count + 1}`);
      }
      this.cur = {
        updateId,
        revisionNumber: int(a.RevisionNumber, 'RevisionNumber', this.file),
        revisionId: int(a.RevisionId, 'RevisionId', this.file),
        isBundle: a.IsBundle === 'true',
        isLeaf: a.IsLeaf === 'true',
        deploymentAction: a.DeploymentAction ?? '',
        categories: [], prerequisites: [], bundledBy: [], supersededBy: [], payloadFiles: [], files: [],
        hasApplicabilityRules: false,
      };
      return;
    }
    if (depth === 2 && name === 'FileLocation' && p[1] === 'FileLocations') {
      if (!a.Id || a.Url === undefined) throw new ScanCabError('FileLocation without Id or Url', this.file);
      this.sink.fileLocation(a.Id, a.Url);
      return;
    }
    const u = this.cur;
    if (!u || depth < 4) return;
    const section = p[3];
    if (depth === 4 && section === 'Prerequisites' && name === 'Or') this.orGroup = [];
    else if (section === 'Prerequisites' && name === 'UpdateId' && a.Id) {
      const id = a.Id.toLowerCase();
      if (this.orGroup && depth === 5) this.orGroup.push(id);
      else if (depth === 4) u.prerequisites.push([id]);
    } else if (depth === 4 && section === 'Categories' && name === 'Category' && a.Id) {
      u.categories.push({ type: a.Type ?? '', id: a.Id.toLowerCase() });
    } else if (depth === 4 && section === 'BundledBy' && name === 'Revision') {
      u.bundledBy.push(int(a.Id, 'BundledBy/Revision Id', this.file));
    } else if (depth === 4 && section === 'SupersededBy' && name === 'Revision') {
      u.supersededBy.push(int(a.Id, 'SupersededBy/Revision Id', this.file));
    } else if (depth === 4 && section === 'PayloadFiles' && name === 'File' && a.Id) {
      u.payloadFiles.push(a.Id);
    }
  }

  private close(name: string): void {
    const p = this.path;
    p.pop();
    const depth = p.length;
    if (depth === 4 && name === 'Or' && this.orGroup && this.cur) {
      if (this.orGroup.length) this.cur.prerequisites.push(this.orGroup);
      this.orGroup = null;
    } else if (depth === 2 && name === 'Update' && this.cur) {
      const u = this.cur;
      this.cur = null;
      this.count++;
      this.sink.update(u);
    }
  }
}
