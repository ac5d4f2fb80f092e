import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Cabinet } from '../cab/cabinet.js';
import { parseMum } from '../cbs/mum.js';
import { parsePkgProperties } from '../cbs/pkgprops.js';
import { BufferSource, FileSource, SliceSource, type ByteSource } from '../util/source.js';
import { wimDirDetailed, wimReadFile, type WimStreamEntry } from '../wim/streams.js';
import { classifyMember, kbFromName, PACKAGE_ROLES } from './members.js';
import { openPayloadWim } from './payload-wim.js';
import {
  INSPECT_SCHEMA, countKinds, summarizeMum, summarizePackageCab, type InspectMember, type InspectReport, type MemberCopyProgress, type PackageSummary,
} from './summary.js';

/**
 * WIM-based MSU (Windows 11 build 25336+): the outer container is a WIM whose single
 * image holds the members. Members stored uncompressed (as PSFX2MSU captures them)
 * are read in place; the LCU payload `.wim` is itself a WIM, read through wimlib.
 */
export async function inspectWimMsu(file: string, name: string, size: number, onProgress?: (p: MemberCopyProgress) => void): Promise<InspectReport> {
  const entries = (await wimDirDetailed(file, 1)).filter((e) => !e.isDirectory);
  const mumEntry = entries.find((e) => e.path.toLowerCase() === '/update.mum');
  if (mumEntry) return inspectWimPackage(file, name, size, entries, mumEntry);
  const warnings: string[] = [];
  const members: InspectMember[] = entries
    .map((e) => ({ name: e.path.replace(/^\//, ''), size: e.size, role: classifyMember(e.path).role, compression: e.storedInPlace ? 'None' : 'compressed' }))
    .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  const report: InspectReport = {
    schema: INSPECT_SCHEMA, file: path.basename(name), size, container: 'wim-msu', members, packages: [],
    ssu: { present: false, members: [] }, psf: members.filter((m) => m.role === 'psf').map((m) => m.name), warnings,
  };
  const outer = await FileSource.open(file, name);
  try {
    const open = async (e: WimStreamEntry): Promise<ByteSource> =>
      e.storedInPlace ? new SliceSource(outer, e.offset, e.size, `${name}!${e.path.slice(1)}`) : new BufferSource(await wimReadFile(file, 1, e.path), `${name}!${e.path.slice(1)}`);
    for (const e of [...entries].sort((a, b) => (a.path < b.path ? -1 : 1))) {
      const member = e.path.replace(/^\//, '');
      const role = classifyMember(member).role;
      if (role === 'pkg-properties') {
        const src = await open(e);
        const props = parsePkgProperties(await src.read(0, src.size), src.name);
        report.properties = Object.fromEntries(props.entries.map((p) => [p.key, p.value]));
        continue;
      }
      if (!PACKAGE_ROLES.has(role)) continue;
      let summary: PackageSummary;
      if (/\.wim$/i.test(member)) summary = await summarizeInnerWim(file, outer, e, member, report.psf.length > 0, onProgress);
      else {
        const cab = await Cabinet.open(await open(e));
        summary = await summarizePackageCab(cab, member, false);
      }
      if (role === 'ssu' || summary.class === 'ssu') report.ssu.members.push(member);
      if (!summary.note || role !== 'package-cab') report.packages.push(summary);
    }
  } finally {
    await outer.close();
  }
  report.ssu.present = report.ssu.members.length > 0;
  const kbs = [...new Set(report.packages.filter((p) => p.class !== 'ssu').map((p) => p.kb).filter(Boolean))];
  report.kb = kbs[0] ?? kbFromName(name);
  if (!report.packages.some((p) => p.identity)) warnings.push('no CBS package found inside the bundle');
  return report;
}

/**
 * A CBS package stored in a WIM/ESD: update.mum, the .mum/.cat pairs and the manifests sit at the
 * root of image 1, as they would in a package cabinet.
 */
async function inspectWimPackage(file: string, name: string, size: number, entries: WimStreamEntry[], mumEntry: WimStreamEntry): Promise<InspectReport> {
  const members: InspectMember[] = entries
    .map((e) => ({ name: e.path.replace(/^\//, ''), size: e.size, role: 'other' as const, compression: e.storedInPlace ? 'None' : 'compressed' }))
    .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  const mum = parseMum(await wimReadFile(file, 1, mumEntry.path), `${name}!update.mum`);
  const counts = countKinds(members);
  const summary: PackageSummary = { ...summarizeMum(mum, '.'), express: counts.cix > 0, counts, compression: ['WIM'] };
  return {
    schema: INSPECT_SCHEMA, file: path.basename(name), size, container: 'wim-package', members, packages: [summary],
    ssu: { present: false, members: [] }, psf: [], warnings: [], ...(summary.kb ? { kb: summary.kb } : {}),
  };
}

/** The LCU payload WIM, read through wimlib from a private temp dir (src/msu/payload-wim.ts), removed afterwards. */
async function summarizeInnerWim(
  file: string, outer: FileSource, e: WimStreamEntry, member: string, psfBeside: boolean, onProgress?: (p: MemberCopyProgress) => void,
): Promise<PackageSummary> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'msu-inspect-'));
  try {
    const payload = await openPayloadWim(file, outer, e, dir, onProgress);
    const files = payload.entries;
    const names = files.map((f) => ({ name: f.path.replace(/^\//, '') }));
    const mumFile = files.find((f) => f.path.toLowerCase() === '/update.mum');
    const counts = countKinds(names);
    if (!mumFile) {
      return { member, identity: '', name: '', version: '', arch: '', language: '', class: 'unknown', classReason: 'no update.mum', appliesTo: [], express: psfBeside, counts, compression: ['WIM'], note: 'no update.mum in the payload WIM' };
    }
    const mum = parseMum(await payload.read(mumFile), `${outer.name}!${member}!update.mum`);
    return { ...summarizeMum(mum, member), express: psfBeside || counts.cix > 0, counts, compression: ['WIM'] };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
