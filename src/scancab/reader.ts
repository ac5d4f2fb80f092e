import { createHash } from 'node:crypto';
import path from 'node:path';
import { Cabinet, type CabEntry } from '../cab/index.js';
import { ioError, MsuError } from '../errors.js';
import { BufferSource, inputChunks } from '../util/source.js';
import { ScanCabError } from './errors.js';
import { parseCoreFragment, parseExtendedFragment, parseLocalizedFragment, type CoreFragment, type ExtendedFragment, type LocalizedFragment } from './fragments.js';
import { PackageXmlReader, type PackageXmlSink } from './package-xml.js';
import { INDEX_VERSION, type ScanIndex, type ScanUpdate } from './types.js';

/** A fragment larger than this is not a fragment (bounds memory on hostile input). */
const MAX_FRAGMENT = 16 * 1024 * 1024;
/** Preferred language for titles; the update's first language otherwise. */
const TITLE_LANGUAGE = 'en';

export async function sha256File(file: string): Promise<string> {
  const h = createHash('sha256');
  try {
    for await (const chunk of inputChunks(file)) h.update(chunk);
  } catch (err) {
    throw ioError(err, file);
  }
  return h.digest('hex');
}

const norm = (name: string): string => name.replace(/\\/g, '/').toLowerCase();

async function openInner(outer: Cabinet, e: CabEntry): Promise<Cabinet> {
  const src = outer.storedSource(e) ?? new BufferSource(await outer.readFile(e), `${outer.name}!${e.name}`);
  try {
    return await Cabinet.open(src);
  } catch (err) {
    if (err instanceof MsuError) throw new ScanCabError(`inner cabinet ${e.name}: ${err.message}`, outer.name, err.where);
    throw err;
  }
}

/** Which fragment a member is: core/N, extended/N or localized/<lang>/N. */
function fragmentOf(name: string): { kind: 'core' | 'extended' | 'localized'; lang: string; rev: number } | null {
  const m = /^(core|extended)\/(\d{1,10})$/.exec(name) ?? /^(localized)\/([a-z0-9-]{1,20})\/(\d{1,10})$/.exec(name);
  if (!m) return null;
  if (m[1] === 'localized') return { kind: 'localized', lang: m[2]!, rev: Number(m[3]) };
  return { kind: m[1] as 'core' | 'extended', lang: '', rev: Number(m[2]) };
}

/** What a walk of a scan cabinet reports, in this order: head, updates and file locations, fragments. */
export interface ScanHead {
  packageId: string;
  protocolVersion: string;
  creationDate: string;
  form: 'single' | 'multi';
  cabinets: string[];
}

/**
 * Receives a scan cabinet as it is read. `update` gets each Update of package.xml with
 * only its package.xml fields; the fragments of that RevisionId arrive later, in
 * cabinet order, through core/extended/localized.
 */
export interface ScanSink extends PackageXmlSink {
  /** Whether `rev` is an Update of package.xml (so far). */
  has(rev: number): boolean;
  head(h: ScanHead): void;
  core(rev: number, c: CoreFragment): void;
  extended(rev: number, x: ExtendedFragment): void;
  localized(rev: number, l: LocalizedFragment): void;
}

/** Open the inner cabinets one at a time (a wsusscn2.cab has 60,000 members in each). */
async function withInner<T>(outer: Cabinet, e: CabEntry, fn: (c: Cabinet) => Promise<T>): Promise<T> {
  const c = await openInner(outer, e);
  try {
    return await fn(c);
  } finally {
    await c.close();
  }
}

/**
 * Read an offline-scan cabinet into a sink: the OfflineSyncPackage in package.cab
 * (streamed, never held whole), then the per-revision fragments of every inner
 * cabinet, each folder decoded once.
 */
/** Called before each inner cabinet is read: `done` of `total` (package.cab, then packageN.cab). */
export type ScanProgress = (done: number, total: number, name: string) => void;

export async function walkScanCabinet(file: string, sink: ScanSink, onProgress?: ScanProgress): Promise<void> {
  const display = path.basename(file);
  let outer: Cabinet;
  try {
    outer = await Cabinet.openFile(file);
  } catch (err) {
    if (err instanceof MsuError) throw err.inFile(display);
    throw ioError(err, display);
  }
  try {
    const cabs = outer.entries
      .filter((e) => /^package(\d*)\.cab$/i.test(e.name))
      .sort((a, b) => Number(/\d+/.exec(a.name)?.[0] ?? 1) - Number(/\d+/.exec(b.name)?.[0] ?? 1));
    const index = cabs.find((e) => e.name.toLowerCase() === 'package.cab');
    if (!index) throw new ScanCabError('not an offline-scan cabinet: no package.cab inside', display);
    const form = cabs.length > 1 ? 'multi' : 'single';
    // package.cab is read twice: for package.xml first, then for its fragments
    const steps = cabs.length + 1;
    onProgress?.(0, steps, index.name);

    // package.xml, streamed through the pull tokenizer
    await withInner(outer, index, async (main) => {
      const pkg = main.entries.find((e) => norm(e.name) === 'package.xml');
      if (!pkg) throw new ScanCabError('package.cab holds no package.xml', display);
      const reader = new PackageXmlReader(`${display}!package.cab!package.xml`, {
        update: (u) => {
          if (sink.has(u.revisionId)) throw new ScanCabError(`RevisionId ${u.revisionId} appears twice in package.xml`, display);
          sink.update(u);
        },
        fileLocation: (id, url) => sink.fileLocation(id, url),
      });
      const dec = new TextDecoder('utf-8', { fatal: false });
      await main.streamMembers([pkg], (_e, chunk, last) => {
        reader.push(dec.decode(chunk, { stream: !last }));
      });
      const x = reader.end();
      sink.head({ packageId: x.packageId, protocolVersion: x.protocolVersion, creationDate: x.creationDate, form, cabinets: cabs.map((e) => e.name) });
    });

    // the title comes from the preferred language, else the first by name: a localized
    // fragment is parsed only when its language beats every one seen before for its revision
    // (one fragment a revision when, as in Microsoft's cabinets, there is one language)
    const titleLang = new Map<number, string>();
    const better = (lang: string, have: string | undefined) =>
      have === undefined || (have !== TITLE_LANGUAGE && (lang === TITLE_LANGUAGE || lang < have));
    for (const [i, ce] of cabs.entries()) {
      onProgress?.(i + 1, steps, ce.name);
      await withInner(outer, ce, async (cab) => {
        const chosen: CabEntry[] = [];
        const kinds = new Map<CabEntry, NonNullable<ReturnType<typeof fragmentOf>>>();
        const localized = new Map<number, CabEntry>();
        for (const e of cab.entries) {
          const f = fragmentOf(norm(e.name));
          if (!f || !sink.has(f.rev)) continue;
          if (f.kind === 'localized') {
            if (!better(f.lang, titleLang.get(f.rev))) continue;
            const prev = localized.get(f.rev);
            if (prev) kinds.delete(prev);
            titleLang.set(f.rev, f.lang);
            localized.set(f.rev, e);
          }
          if (e.cbFile > MAX_FRAGMENT) throw new ScanCabError(`fragment ${e.name} is ${e.cbFile} bytes, more than a fragment can be`, display);
          kinds.set(e, f);
        }
        for (const e of cab.entries) if (kinds.has(e)) chosen.push(e);
        const pending = new Map<CabEntry, Uint8Array[]>();
        await cab.streamMembers(chosen, (e, chunk, last) => {
          // a fragment inside one block is parsed in place (synchronously, before the block is reused)
          let parts = pending.get(e);
          if (!parts && last) parts = [chunk];
          else {
            if (!parts) pending.set(e, (parts = []));
            parts.push(chunk.slice());
            if (!last) return;
            pending.delete(e);
          }
          const bytes = parts.length === 1 ? parts[0]! : Buffer.concat(parts);
          const f = kinds.get(e)!;
          const where = `${display}!${ce.name}!${e.name}`;
          if (f.kind === 'core') sink.core(f.rev, parseCoreFragment(bytes, where));
          else if (f.kind === 'extended') sink.extended(f.rev, parseExtendedFragment(bytes, where));
          else sink.localized(f.rev, parseLocalizedFragment(bytes, where));
        });
      });
    }
  } catch (err) {
    if (err instanceof MsuError) throw err.inFile(display);
    throw err;
  } finally {
    await outer.close();
  }
}

/**
 * Build the index of an offline-scan cabinet in memory (see walkScanCabinet).
 * `sha256` is the cabinet's hash when the caller already computed it.
 */
export async function buildScanIndex(file: string, sha256?: string, onProgress?: ScanProgress): Promise<ScanIndex> {
  const hash = sha256 ?? (await sha256File(file));
  const byRev = new Map<number, ScanUpdate>();
  const fileLocations: Record<string, string> = {};
  let head: ScanHead | undefined;
  await walkScanCabinet(file, {
    has: (rev) => byRev.has(rev),
    update: (u) => void byRev.set(u.revisionId, u),
    fileLocation: (id, url) => void (fileLocations[id] = url),
    head: (h) => void (head = h),
    core: (rev, c) => {
      const u = byRev.get(rev)!;
      u.updateType = c.updateType;
      u.hasApplicabilityRules = c.hasApplicabilityRules;
    },
    extended: (rev, x) => {
      const u = byRev.get(rev)!;
      if (x.kb) u.kb = x.kb;
      if (x.msrcSeverity) u.msrcSeverity = x.msrcSeverity;
      u.files = x.files;
    },
    localized: (rev, l) => {
      const u = byRev.get(rev)!;
      u.title = l.title;
      if (l.description) u.description = l.description;
    },
  }, onProgress);
  const h = head!;
  return {
    indexVersion: INDEX_VERSION,
    sha256: hash,
    packageId: h.packageId,
    protocolVersion: h.protocolVersion,
    creationDate: h.creationDate,
    form: h.form,
    cabinets: h.cabinets,
    updates: [...byRev.values()].sort((a, b) => a.revisionId - b.revisionId),
    fileLocations,
  };
}
