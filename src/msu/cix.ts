import { Cabinet } from '../cab/cabinet.js';
import { isCabinet } from '../cab/header.js';
import { parseContainerIndex, type ContainerIndex } from '../cbs/cix.js';
import { FormatError, UnsupportedError } from '../errors.js';
import { decodeText } from '../util/xml.js';
import { FileSource } from '../util/source.js';
import { classifyMember } from './members.js';
import { openMemberCab } from './inspect.js';

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
 * member beside it, so Source ranges can be checked).
 */
export async function loadContainerIndex(file: string): Promise<LoadedIndex> {
  const src = await FileSource.open(file);
  const head = await src.read(0, Math.min(src.size, 8));
  if (!isCabinet(head)) {
    const text = decodeText(await src.read(0, src.size));
    await src.close();
    if (/^\s*MSWIM/.test(text.slice(0, 8))) {
      throw new UnsupportedError('E_WIM_MSU_CIX', 'reading the cix out of a WIM-based MSU is not supported yet: extract it with wimlib-imagex first', { file });
    }
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
