import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import path from 'node:path';
import { Cabinet, type CabEntry } from '../cab/index.js';
import { ioError, MsuError } from '../errors.js';
import { BufferSource } from '../util/source.js';
import { ScanCabError } from './errors.js';
import { parseCoreFragment, parseExtendedFragment, parseLocalizedFragment } from './fragments.js';
import { PackageXmlReader } from './package-xml.js';
import { INDEX_VERSION, type ScanIndex, type ScanUpdate } from './types.js';

/** A fragment larger than this is not a fragment (bounds memory on hostile input). */
const MAX_FRAGMENT = 16 * 1024 * 1024;
/** Preferred language for titles; the update's first language otherwise. */
const TITLE_LANGUAGE = 'en';

export async function sha256File(file: string): Promise<string> {
  const h = createHash('sha256');
  try {
    for await (const chunk of createReadStream(file)) h.update(chunk as Buffer);
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

/**
 * Build the index of an offline-scan cabinet: the OfflineSyncPackage in package.cab
 * (streamed, never held whole) plus the per-revision fragments of every inner cabinet.
 * `sha256` is the cabinet's hash when the caller already computed it.
 */
export async function buildScanIndex(file: string, sha256?: string): Promise<ScanIndex> {
  const hash = sha256 ?? (await sha256File(file));
  const display = path.basename(file);
  let outer: Cabinet;
  try {
    outer = await Cabinet.openFile(file);
  } catch (err) {
    if (err instanceof MsuError) throw err.inFile(display);
    throw ioError(err, display);
  }
  const inners: Cabinet[] = [];
  try {
    const cabs = outer.entries
      .filter((e) => /^package(\d*)\.cab$/i.test(e.name))
      .sort((a, b) => Number(/\d+/.exec(a.name)?.[0] ?? 1) - Number(/\d+/.exec(b.name)?.[0] ?? 1));
    const index = cabs.find((e) => e.name.toLowerCase() === 'package.cab');
    if (!index) throw new ScanCabError('not an offline-scan cabinet: no package.cab inside', display);
    const form = cabs.length > 1 ? 'multi' : 'single';
    for (const e of cabs) inners.push(await openInner(outer, e));
    const main = inners[cabs.indexOf(index)]!;
    const pkg = main.entries.find((e) => norm(e.name) === 'package.xml');
    if (!pkg) throw new ScanCabError('package.cab holds no package.xml', display);

    // package.xml, streamed through the pull tokenizer
    const reader = new PackageXmlReader(`${display}!package.cab!package.xml`);
    const dec = new TextDecoder('utf-8', { fatal: false });
    await main.streamMembers([pkg], (_e, chunk, last) => {
      reader.push(dec.decode(chunk, { stream: !last }));
    });
    const pkgXml = reader.end();

    const byRev = new Map<number, ScanUpdate>();
    for (const u of pkgXml.updates) {
      if (byRev.has(u.revisionId)) throw new ScanCabError(`RevisionId ${u.revisionId} appears twice in package.xml`, display);
      byRev.set(u.revisionId, u);
    }

    // fragments, each folder decoded once
    const titles = new Map<number, { lang: string; title: string; description: string }>();
    // one localized fragment per revision: the preferred language, else the first by name
    const titleLang = new Map<number, string>();
    for (const cab of inners) {
      for (const e of cab.entries) {
        const f = fragmentOf(norm(e.name));
        if (!f || f.kind !== 'localized' || !byRev.has(f.rev)) continue;
        const have = titleLang.get(f.rev);
        if (have === undefined || (have !== TITLE_LANGUAGE && (f.lang === TITLE_LANGUAGE || f.lang < have))) titleLang.set(f.rev, f.lang);
      }
    }
    for (const cab of inners) {
      const chosen: CabEntry[] = [];
      const kinds = new Map<CabEntry, NonNullable<ReturnType<typeof fragmentOf>>>();
      for (const e of cab.entries) {
        const f = fragmentOf(norm(e.name));
        if (!f || !byRev.has(f.rev)) continue;
        if (f.kind === 'localized' && f.lang !== titleLang.get(f.rev)) continue;
        if (e.cbFile > MAX_FRAGMENT) throw new ScanCabError(`fragment ${e.name} is ${e.cbFile} bytes, more than a fragment can be`, display);
        chosen.push(e);
        kinds.set(e, f);
      }
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
        const u = byRev.get(f.rev)!;
        const where = `${display}!${cab.name.split('!').pop()}!${e.name}`;
        if (f.kind === 'core') {
          const c = parseCoreFragment(bytes, where);
          u.updateType = c.updateType;
          u.hasApplicabilityRules = c.hasApplicabilityRules;
        } else if (f.kind === 'extended') {
          const x = parseExtendedFragment(bytes, where);
          if (x.kb) u.kb = x.kb;
          if (x.msrcSeverity) u.msrcSeverity = x.msrcSeverity;
          u.files = x.files;
        } else {
          const l = parseLocalizedFragment(bytes, where);
          titles.set(f.rev, { lang: f.lang, title: l.title, description: l.description });
        }
      });
    }
    for (const [rev, t] of titles) {
      const u = byRev.get(rev)!;
      u.title = t.title;
      if (t.description) u.description = t.description;
    }
    const updates = [...byRev.values()].sort((a, b) => a.revisionId - b.revisionId);
    return {
      indexVersion: INDEX_VERSION,
      sha256: hash,
      packageId: pkgXml.packageId,
      protocolVersion: pkgXml.protocolVersion,
      creationDate: pkgXml.creationDate,
      form,
      cabinets: cabs.map((e) => e.name),
      updates,
      fileLocations: pkgXml.fileLocations,
    };
  } catch (err) {
    if (err instanceof MsuError) throw err.inFile(display);
    throw err;
  } finally {
    for (const c of inners) await c.close();
    await outer.close();
  }
}
