/**
 * `msu expand`: an express package (PSF + ContainerIndex) rebuilt into plain files, optionally repacked as
 * a cabinet. Orchestration only: the formats live in src/cbs (cix), src/delta (PA3x, LZMS), src/cab.
 */
import { readFile } from 'node:fs/promises';
import { buildCabinet, type CabWriteFile } from '../cab/writer.js';
import { UnsupportedError } from '../errors.js';
import { writeFileAtomic } from '../util/fsout.js';
import { expandExpress, type ExpandOptions, type ExpandReport } from './expand.js';
import { openExpressPackage } from './locate.js';
import type { MemberCopyProgress } from '../msu/index.js';

export * from './expand.js';
export { openExpressPackage, type ExpressPackage, type PackageMember } from './locate.js';

export interface ExpandPackageOptions extends Omit<ExpandOptions, 'beforeCommit'> {
  /** Also write the expanded package as this cabinet (MSZIP). */
  cab?: string;
  /** Called while the payload `.wim` of a WIM-based MSU is copied for wimlib-imagex, before anything is expanded. */
  onCopyProgress?: (p: MemberCopyProgress) => void;
}

export interface ExpandPackageReport extends ExpandReport {
  /** The cabinet written (as the user named it), or why none was. */
  cab?: { file: string; members: number } | { file: string; skipped: string };
}

/** FILETIME (decimal, 100 ns since 1601, UTC) as the cabinet writer's `YYYY-MM-DDTHH:MM:SS`. */
function cabTime(time: string | undefined): string | undefined {
  if (time === undefined) return undefined;
  const ms = Number(BigInt(time) / 10000n) - 11644473600000;
  const d = new Date(ms);
  if (!Number.isFinite(ms) || d.getUTCFullYear() < 1980 || d.getUTCFullYear() > 2107) return undefined;
  return d.toISOString().slice(0, 19);
}

/** Expand PACKAGE (folder, cix, cabinet, cabinet- or WIM-based MSU) into `dest`. */
export async function expandPackage(file: string, dest: string, opts: ExpandPackageOptions = {}): Promise<ExpandPackageReport> {
  const pkg = await openExpressPackage(file, opts.onCopyProgress);
  try {
    if (opts.cab !== undefined && pkg.members === null) {
      throw new UnsupportedError('E_EXPAND_CAB', 'unsupported: --cab for this kind of package (its other members cannot be listed); expand to a folder instead', { file });
    }
    let cab: ExpandPackageReport['cab'];
    const times = new Map(pkg.cix.files.map((f) => [f.id, cabTime(f.time)]));
    const report = await expandExpress(pkg.cix, pkg.cixOrigin, pkg.psf, dest, {
      ...opts,
      ...(pkg.readMember ? { readMember: pkg.readMember } : {}),
      beforeCommit: async (staged, r) => {
        if (opts.cab === undefined) return;
        if (r.notExpanded.length > 0) {
          cab = { file: opts.cab, skipped: `${r.notExpanded.length} files were not expanded; a cabinet without them would be a broken package` };
          return;
        }
        const expandedNames = new Set(r.expanded.map((e) => e.name.replace(/\//g, '\\').toLowerCase()));
        const files: CabWriteFile[] = [];
        for (const m of pkg.members!) {
          if (expandedNames.has(m.name.toLowerCase())) continue;
          files.push({ name: m.name, data: await m.read() });
        }
        for (const e of r.expanded) {
          const modified = times.get(e.id);
          files.push({ name: e.name.replace(/\//g, '\\'), data: new Uint8Array(await readFile(staged.pathForSync(e.name))), ...(modified ? { modified } : {}) });
        }
        await writeFileAtomic(opts.cab, buildCabinet({ folders: [{ compression: 'mszip', files }] }));
        cab = { file: opts.cab, members: files.length };
      },
    });
    return cab ? { ...report, cab } : report;
  } finally {
    await pkg.close();
  }
}
