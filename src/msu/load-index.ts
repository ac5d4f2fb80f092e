import { Cabinet } from '../cab/cabinet.js';
import { isCabinet } from '../cab/header.js';
import { parseContainerIndex, type ContainerIndex } from '../cbs/container-index.js';
import { FormatError } from '../errors.js';
import { decodeText } from '../util/xml.js';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { BufferSource, FileSource, SliceSource } from '../util/source.js';
import { classifyMember } from './members.js';
import { detectContainer, openMemberCab } from './container.js';
import type { MemberCopyProgress } from './summary.js';

export interface LoadedIndex {
  cix: ContainerIndex;
  /** Where it came from, e.g. `KB.msu!Windows10.0-KB…-x64.cab!_manifest_.cix.xml`. */
  origin: string;
  /** Size of the PSF beside it in the bundle, when there is one. */
  psfSize?: number;
}

const isCix = (name: string) => /(^|[\\/])(_manifest_\.cix\.xml|[^\\/]*\.psf\.cix\.xml)$/i.test(name);

/**
 * The ContainerIndex of a package: a cix XML file itself, the cix inside a CBS cabinet,
 * or the cix inside the payload cab of a cabinet-based MSU (with the size of the PSF
 * member beside it, so Source ranges can be checked). `onProgress` hears how far the copy of a
 * WIM-based MSU's payload `.wim` for wimlib-imagex is.
 */
export async function loadContainerIndex(file: string, opts: { onProgress?: (p: MemberCopyProgress) => void } = {}): Promise<LoadedIndex> {
  const src = await FileSource.open(file);
  const head = await src.read(0, Math.min(src.size, 8));
  if (detectContainer(head) === 'wim') return loadFromWimMsu(file, src, opts.onProgress);
  if (!isCabinet(head)) {
    const text = decodeText(await src.read(0, src.size));
    await src.close();
    return { cix: parseContainerIndex(text, file), origin: file };
  }
  await src.close();
  const outer = await Cabinet.openFile(file);
  try {
    const own = outer.entries.find((e) => isCix(e.name));
    if (own) return { cix: parseContainerIndex(await outer.readFile(own), `${file}!${own.name}`), origin: `${file}!${own.name}` };
    const psf = outer.entries.find((e) => classifyMember(e.name).role === 'psf');
    for (const e of outer.entries) {
      if (classifyMember(e.name).role !== 'lcu-payload') continue;
      const inner = await openMemberCab(outer, e);
      const c = inner.entries.find((x) => isCix(x.name));
      if (!c) continue;
      const origin = `${file}!${e.name}!${c.name}`;
      return { cix: parseContainerIndex(await inner.readFile(c), origin), origin, ...(psf ? { psfSize: psf.cbFile } : {}) };
    }
  } finally {
    await outer.close();
  }
  throw new FormatError('E_NO_CIX', 'no _manifest_.cix.xml or *.psf.cix.xml in this package (it carries no delta index)', { file });
}

/**
 * A WIM-based MSU: the cix sits in the payload `.wim` (a WIM inside the WIM), which wimlib reads
 * only from a file: what it needs of that member is copied to a private temp dir
 * (src/msu/payload-wim.ts) and removed afterwards. A payload `.cab` is opened in place. The `.psf` beside it gives the size.
 */
async function loadFromWimMsu(file: string, src: FileSource, onProgress?: (p: MemberCopyProgress) => void): Promise<LoadedIndex> {
  const { wimDirDetailed, wimReadFile } = await import('../wim/streams.js');
  const { openPayloadWim } = await import('./payload-wim.js');
  let tmp: string | undefined;
  try {
    const members = (await wimDirDetailed(file, 1)).filter((e) => !e.isDirectory).sort((a, b) => (a.path < b.path ? -1 : 1));
    const psf = members.find((e) => classifyMember(e.path.slice(1)).role === 'psf');
    const extra = psf ? { psfSize: psf.size } : {};
    const own = members.find((e) => isCix(e.path.slice(1)));
    if (own) {
      const origin = `${file}!${own.path.slice(1)}`;
      return { cix: parseContainerIndex(await wimReadFile(file, 1, own.path), origin), origin, ...extra };
    }
    for (const e of members) {
      const name = e.path.slice(1);
      if (classifyMember(name).role !== 'lcu-payload') continue;
      if (/\.cab$/i.test(name)) {
        const cab = await Cabinet.open(e.storedInPlace ? new SliceSource(src, e.offset, e.size, `${file}!${name}`) : new BufferSource(await wimReadFile(file, 1, e.path), `${file}!${name}`));
        const c = cab.entries.find((x) => isCix(x.name));
        if (!c) continue;
        const origin = `${file}!${name}!${c.name}`;
        return { cix: parseContainerIndex(await cab.readFile(c), origin), origin, ...extra };
      }
      if (!/\.wim$/i.test(name)) continue;
      tmp ??= await mkdtemp(path.join(os.tmpdir(), 'msu-cix-'));
      const payload = await openPayloadWim(file, src, e, tmp, onProgress);
      const c = payload.entries.find((x) => isCix(x.path.slice(1)));
      if (!c) continue;
      const origin = `${file}!${name}!${c.path.slice(1)}`;
      return { cix: parseContainerIndex(await payload.read(c), origin), origin, ...extra };
    }
  } finally {
    await src.close();
    if (tmp) await rm(tmp, { recursive: true, force: true });
  }
  throw new FormatError('E_NO_CIX', 'no _manifest_.cix.xml or *.psf.cix.xml in this package (it carries no delta index)', { file });
}
