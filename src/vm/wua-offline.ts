/**
 * Path B offline (docs/vm.md, "Offline scan"): `msu run wua --offline-scan CAB --updates DIR
 * --rules R`. The host decides what to install (the rules engine over the scan cabinet), checks
 * every payload file of DIR (what `msu fetch` wrote) against its SHA-1 before anything boots,
 * and lays out the offline medium: an ISO (label MSUOFFLINE) with the cabinet and the payloads.
 * The guest runner registers the cabinet as a scan package service, searches it, installs only
 * the UpdateIds the host allowed, from these files (IUpdate2::CopyToCache), never downloading.
 */
import { createHash } from 'node:crypto';
import { copyFile, link, lstat, mkdir, rm } from 'node:fs/promises';
import path from 'node:path';
import { IoError, ioError, MismatchError, type MsuError, UsageError } from '../errors.js';
import { openScanIndex } from '../scancab/cache.js';
import { ScanQuery } from '../scancab/query.js';
import { applyRules, type ScanRules } from '../scancab/rules.js';
import { byCode } from '../util/compare.js';
import { inputChunks, readWholeFile } from '../util/source.js';
import type { OfflineAllowed, OfflineParams } from './guest/wua-runner.js';

export type { OfflineAllowed, OfflineParams };

/** Volume label of the offline medium (the guest finds it by label). */
export const OFFLINE_LABEL = 'MSUOFFLINE';
/** Names on the medium. */
export const OFFLINE_MEDIUM = { cab: 'wsusscn2.cab', payloads: 'payloads' } as const;

/** One payload file on the medium. */
export interface OfflinePayload {
  name: string;
  sha1: string;
  /** From the cabinet's extended fragment; null when it does not say. */
  size: number | null;
  /** The revision (UpdateId) whose PayloadFiles name it: CopyToCache goes to that update. */
  updateIds: string[];
}

export interface OfflineSelection {
  params: OfflineParams;
  files: OfflinePayload[];
  /** SHA-256 and packageId of the cabinet, for the record. */
  cabinet: { sha256: string; packageId: string; creationDate: string };
}

export interface OfflineInputs {
  /** The scan cabinet (wsusscn2.cab or a WSUSSCAN.cab). */
  scancab: string;
  /** The directory `msu fetch` wrote (DIR/manifest.json and the payload files). */
  updatesDir: string;
  rules: ScanRules;
  /** Scan index cache (as `msu scancab`); null disables it. */
  cacheDir?: string | null;
}

const PLAIN_NAME = /^[^/\\\u0000-\u001f]{1,255}$/;

/**
 * The rules' selection over the cabinet, with the payload file of every selected update and of
 * the revisions it bundles. UsageError when the rules select nothing.
 */
export async function selectOffline(inp: OfflineInputs): Promise<OfflineSelection> {
  const o = await openScanIndex(inp.scancab, inp.cacheDir === undefined ? {} : { cacheDir: inp.cacheDir });
  try {
    const q = new ScanQuery(o.source);
    const chosen = applyRules(q, inp.rules).filter((d) => d.selected);
    if (chosen.length === 0) {
      throw new UsageError('the rules select no update of the scan cabinet (msu scancab CAB --rules R shows why each is left out)', { file: inp.scancab });
    }
    const allowed: OfflineAllowed[] = [];
    const payloads: Record<string, string[]> = {};
    const files = new Map<string, OfflinePayload>();
    for (const d of chosen) {
      const u = q.get(d.revisionId)!;
      allowed.push({ updateId: u.updateId, kb: u.kb ?? null, title: u.title ?? null, reason: d.reason });
      const all = q.payload(u);
      const byId = new Map(all.map((p) => [p.id, p]));
      for (const r of [u, ...q.bundledRevisions(u).map((x) => q.get(x)!).filter(Boolean)]) {
        const names = new Set(payloads[r.updateId] ?? []);
        for (const id of r.payloadFiles) {
          const p = byId.get(id);
          if (!p) continue;
          if (!PLAIN_NAME.test(p.name) || p.name === '.' || p.name === '..') {
            throw new UsageError(`payload file name ${JSON.stringify(p.name)} of update ${u.updateId} is not a plain file name`, { file: inp.scancab });
          }
          names.add(p.name);
          const f = files.get(p.sha1) ?? { name: p.name, sha1: p.sha1, size: p.size, updateIds: [] };
          if (!f.updateIds.includes(r.updateId)) f.updateIds.push(r.updateId);
          files.set(p.sha1, f);
        }
        if (names.size) payloads[r.updateId] = [...names].sort(byCode);
      }
    }
    const byName = new Map<string, string>();
    for (const f of files.values()) {
      const other = byName.get(f.name.toLowerCase());
      if (other && other !== f.sha1) throw new UsageError(`two payload files are both named ${f.name} (sha1 ${other} and ${f.sha1}); the medium cannot hold both`, { file: inp.scancab });
      byName.set(f.name.toLowerCase(), f.sha1);
      f.updateIds.sort(byCode);
    }
    allowed.sort((a, b) => byCode(a.updateId, b.updateId));
    return {
      params: { label: OFFLINE_LABEL, cab: OFFLINE_MEDIUM.cab, payloadDir: OFFLINE_MEDIUM.payloads, allowed, payloads },
      files: [...files.values()].sort((a, b) => byCode(a.name, b.name)),
      cabinet: { sha256: o.meta.sha256, packageId: o.meta.packageId, creationDate: o.meta.creationDate },
    };
  } finally {
    o.close();
  }
}

async function sha1Of(file: string, shown: string): Promise<{ sha1: string; size: number }> {
  const h = createHash('sha1');
  let size = 0;
  try {
    for await (const c of inputChunks(file, 1 << 20)) {
      h.update(c);
      size += c.length;
    }
  } catch (err) {
    throw ioError(err, shown);
  }
  return { sha1: h.digest('hex'), size };
}

/** DIR/manifest.json of `msu fetch`: SHA-1 → name (entries with unusable names are ignored). */
async function manifestNames(dir: string): Promise<Map<string, string>> {
  const file = path.join(dir, 'manifest.json');
  let text: string;
  try {
    text = Buffer.from(await readWholeFile(file, 'fetch manifest')).toString('utf8');
  } catch (err) {
    if ((err as MsuError).code === 'E_IO_ENOENT') return new Map();
    throw err;
  }
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (err) {
    throw new IoError('E_MANIFEST', `not valid JSON: ${(err as Error).message}`, { file });
  }
  const out = new Map<string, string>();
  const list = v && typeof v === 'object' && Array.isArray((v as { files?: unknown }).files) ? (v as { files: unknown[] }).files : [];
  for (const e of list) {
    const x = e as { name?: unknown; sha1?: unknown } | null;
    if (!x || typeof x.name !== 'string' || typeof x.sha1 !== 'string') continue;
    if (!PLAIN_NAME.test(x.name) || x.name === '.' || x.name === '..') continue;
    out.set(x.sha1.toLowerCase(), x.name);
  }
  return out;
}

/** Where a payload is in DIR: the manifest's name for its SHA-1, else the cabinet's name. */
export async function locatePayloads(dir: string, files: OfflinePayload[]): Promise<Map<string, string>> {
  const names = await manifestNames(dir);
  const out = new Map<string, string>();
  const missing: string[] = [];
  for (const f of files) {
    const name = names.get(f.sha1) ?? f.name;
    const abs = path.join(dir, name);
    let st;
    try {
      st = await lstat(abs);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
        missing.push(`${f.name} (sha1 ${f.sha1}, for ${f.updateIds.join(', ')})`);
        continue;
      }
      throw ioError(err, abs);
    }
    // a symbolic link is never followed out of DIR
    if (!st.isFile()) throw new IoError('E_PAYLOAD', 'payload is not a regular file (symbolic links are not followed)', { file: abs });
    out.set(f.sha1, abs);
  }
  if (missing.length) {
    throw new IoError('E_PAYLOAD_MISSING', `${missing.length} payload file(s) the rules select are not in the updates directory (run msu fetch CAB --rules R -d DIR): ${missing.join('; ')}`, { file: dir });
  }
  return out;
}

/** Check one payload's SHA-1 (and size when the cabinet gives it); MismatchError naming the file otherwise. */
export async function checkPayload(file: string, f: OfflinePayload, shown = file): Promise<void> {
  const got = await sha1Of(file, shown);
  if (got.sha1 !== f.sha1 || (f.size !== null && got.size !== f.size)) {
    throw new MismatchError('E_PAYLOAD_SHA1', `payload ${f.name} has SHA-1 ${got.sha1} (${got.size} bytes); the scan cabinet says ${f.sha1}${f.size !== null ? ` (${f.size} bytes)` : ''}`, { file: shown });
  }
}

/**
 * Stage the offline medium's tree: the cabinet and the payloads, hard-linked (copied across
 * file systems), each payload checked by SHA-1 as staged. On any error the tree is removed.
 */
export async function stageOfflineTree(tree: string, scancab: string, located: Map<string, string>, files: OfflinePayload[]): Promise<void> {
  const put = async (from: string, to: string): Promise<void> => {
    try {
      await link(from, to);
    } catch {
      try {
        await copyFile(from, to);
      } catch (err) {
        throw ioError(err, from, 'copy');
      }
    }
  };
  try {
    await rm(tree, { recursive: true, force: true });
    await mkdir(path.join(tree, OFFLINE_MEDIUM.payloads), { recursive: true });
    await put(scancab, path.join(tree, OFFLINE_MEDIUM.cab));
    for (const f of files) {
      const to = path.join(tree, OFFLINE_MEDIUM.payloads, f.name);
      await put(located.get(f.sha1)!, to);
      await checkPayload(to, f, located.get(f.sha1)!);
    }
  } catch (err) {
    await rm(tree, { recursive: true, force: true });
    throw err;
  }
}

/** The medium's contents as a listing (path on the medium, size, SHA-1), sorted. */
export function offlineListing(sel: OfflineSelection): Array<{ path: string; sha1?: string; size?: number; updateIds?: string[] }> {
  return [
    { path: OFFLINE_MEDIUM.cab },
    ...sel.files.map((f) => ({ path: `${OFFLINE_MEDIUM.payloads}/${f.name}`, sha1: f.sha1, ...(f.size !== null ? { size: f.size } : {}), updateIds: f.updateIds })),
  ];
}
