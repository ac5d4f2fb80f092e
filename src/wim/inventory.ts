import { byCode } from '../util/compare.js';
import { parseInf } from '../drivers/inf.js';
import { accessSync, closeSync, constants as fsConstants, fstatSync, openSync, readSync, statSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { MsuError, UsageError } from '../errors.js';
import { parseMum, type MumPackage } from '../cbs/mum.js';
import { compareVersions, isVersion } from '../cbs/version.js';
import { decodeText } from '../util/xml.js';
import type { WindowsArch } from './types.js';
import { childNames, wimDir, wimExtract, wimInfo, type WimRunOptions } from './wimlib.js';

/**
 * What is installed in a Windows image, read from the WIM without applying it: only the
 * image metadata, `Windows\servicing\Packages\*.mum`, `Windows\INF\oem*.inf` and the names
 * of the DriverStore folders are read (two wimlib runs per image).
 */

export const PACKAGES_DIR = '/Windows/servicing/Packages';
export const INF_DIR = '/Windows/INF';
export const FILE_REPOSITORY = '/Windows/System32/DriverStore/FileRepository';

export interface InstalledPackage {
  /** `Name~PublicKeyToken~Arch~Culture~Version`. */
  packageId: string;
  name: string;
  version: string;
  arch: string;
  /** Culture; `neutral` when the package has none. */
  language: string;
  publicKeyToken: string;
  /** `package@releaseType` (Update, Security Update, Foundation, Language Pack…). */
  releaseType?: string;
  /** The .mum file name in Windows\servicing\Packages. */
  mum: string;
}

/** A third-party driver: `Windows\INF\oemN.inf` and its [Version] section. */
export interface OemDriver {
  inf: string;
  provider?: string;
  /** DriverVer as written, `mm/dd/yyyy[,version]`. */
  driverVer?: string;
  date?: string;
  version?: string;
  class?: string;
  classGuid?: string;
}

export type VersionSource = 'xml' | 'packages' | 'xml-without-ubr' | 'unknown';

export interface InventoryImage {
  index: number;
  name: string;
  edition?: string;
  installationType?: string;
  arch: WindowsArch;
  /** major.minor.build.UBR */
  version?: string;
  /** Where `version`'s UBR came from: the image XML (SPBUILD) or the installed packages. */
  versionSource: VersionSource;
  /** The version the image XML states (may lack the UBR). */
  xmlVersion?: string;
  languages: string[];
  defaultLanguage?: string;
  /** Version of Microsoft-Windows-Foundation-Package. */
  foundationVersion?: string;
  /** Highest Package_for_RollupFix version (the latest cumulative update). */
  rollupFixVersion?: string;
  /** Highest Package_for_ServicingStack version. */
  servicingStackVersion?: string;
  packages: InstalledPackage[];
  drivers: OemDriver[];
  /** Folder names in Windows\System32\DriverStore\FileRepository (e.g. `foo.inf_amd64_abc`). */
  driverStore: string[];
  /** Files that could not be read (named, with the reason); the rest of the inventory stands. */
  warnings: string[];
}

export interface ImageInventory {
  file: string;
  imageCount: number;
  images: InventoryImage[];
}

const byLower = (a: string, b: string): number => {
  const x = a.toLowerCase(), y = b.toLowerCase();
  return byCode(x, y) || byCode(a, b);
};

function highest(pkgs: InstalledPackage[], test: (name: string) => boolean): string | undefined {
  let best: string | undefined;
  for (const p of pkgs) {
    if (!test(p.name.toLowerCase()) || !isVersion(p.version)) continue;
    if (best === undefined || compareVersions(p.version, best) > 0) best = p.version;
  }
  return best;
}

/**
 * major.minor.build.UBR: the XML when it has SPBUILD; otherwise major.minor.build from the XML
 * (or the Foundation package) and the UBR from the highest RollupFix (`19041.1288.1.7` → 1288),
 * or from the Foundation package's revision when no cumulative update is installed.
 */
export function resolveVersion(
  xmlVersion: string | undefined,
  foundation: string | undefined,
  rollupFix: string | undefined,
): { version?: string; versionSource: VersionSource } {
  const xmlParts = xmlVersion?.split('.') ?? [];
  if (xmlParts.length === 4) return { version: xmlVersion!, versionSource: 'xml' };
  const f = foundation?.split('.') ?? [];
  const base = xmlParts.length === 3 ? xmlParts : f.length >= 3 ? f.slice(0, 3) : undefined;
  const ubr = rollupFix !== undefined ? rollupFix.split('.')[1] : f.length === 4 ? f[3] : undefined;
  if (base && ubr !== undefined) return { version: `${base.join('.')}.${ubr}`, versionSource: 'packages' };
  if (xmlVersion) return { version: xmlVersion, versionSource: 'xml-without-ubr' };
  return { versionSource: 'unknown' };
}

// ---------------------------------------------------------------- INF [Version]

/** The [Version] facts of an installed oem*.inf, through the one INF parser (src/drivers/inf.ts). */
export function readInfVersion(input: Uint8Array | string, inf: string): OemDriver {
  const bytes = typeof input === 'string' ? Buffer.from(input, 'utf8') : input;
  const v = parseInf(bytes, inf).version;
  const out: OemDriver = { inf };
  if (v.provider) out.provider = v.provider;
  if (v.class) out.class = v.class;
  if (v.classGuid) out.classGuid = v.classGuid;
  if (v.driverVer) {
    out.driverVer = v.driverVer.version ? `${v.driverVer.rawDate},${v.driverVer.version}` : v.driverVer.rawDate;
    if (v.driverVer.rawDate) out.date = v.driverVer.rawDate;
    if (v.driverVer.version) out.version = v.driverVer.version;
  }
  return out;
}

// ---------------------------------------------------------------- inventory

/** How much of a .mum is read first: the identity and the <package> start tag sit in the first few hundred bytes. */
const MUM_HEAD_BYTES = 16 * 1024;

/**
 * Read a regular file (at most `limit` bytes) from the extraction dir. O_NOFOLLOW: a symlink
 * planted by the image is refused, never followed. Synchronous on purpose: thousands of
 * small files read far faster this way than through the thread pool.
 */
function readExtracted(root: string, rel: string, limit = Number.MAX_SAFE_INTEGER): { bytes: Uint8Array; whole: boolean } {
  const fd = openSync(path.join(root, ...rel.split('/')), fsConstants.O_RDONLY | fsConstants.O_NOFOLLOW);
  try {
    const st = fstatSync(fd);
    if (!st.isFile()) throw new Error('not a regular file');
    const n = Math.min(st.size, limit);
    const buf = Buffer.alloc(n);
    let got = 0;
    while (got < n) {
      const r = readSync(fd, buf, got, n - got, got);
      if (r === 0) break;
      got += r;
    }
    return { bytes: buf.subarray(0, got), whole: got >= st.size };
  } finally {
    closeSync(fd);
  }
}

/**
 * The head of a package manifest: everything up to the `<package …>` start tag, closed again.
 * The inventory needs only the assemblyIdentity and package@releaseType, and a cumulative
 * update's .mum runs to megabytes; parsing the head keeps a 2,000-package image fast.
 * Undefined when the head cannot be cut cleanly (then the whole file is parsed).
 */
export function mumHead(text: string): string | undefined {
  const tag = /<((?:[A-Za-z_][\w.-]*:)?)package\b[^<>]*>/.exec(text);
  if (!tag) return undefined;
  const root = /<((?:[A-Za-z_][\w.-]*:)?)assembly\b/.exec(text);
  if (!root || root.index > tag.index) return undefined;
  const head = text.slice(0, tag.index + tag[0].length);
  const close = `</${root[1]}assembly>`;
  return tag[0].endsWith('/>') ? head + close : `${head}</${tag[1]}package>${close}`;
}

function readPackageManifest(bytes: Uint8Array, whole: boolean, file: string): MumPackage | undefined {
  const head = mumHead(decodeText(bytes));
  if (head !== undefined) {
    try {
      return parseMum(head, file);
    } catch {
      // fall through: the full parse names the real problem
    }
  }
  return whole ? parseMum(bytes, file) : undefined;
}

export interface InventoryOptions extends WimRunOptions {
  /** Called before each image is read. */
  onImage?: (index: number, count: number) => void;
  /** Where the few extracted files go for the moment they are parsed. Default: scratchDir(). */
  tempDir?: string;
}

/**
 * Scratch space for the extracted manifests: `$MSU_TMPDIR`, else /dev/shm when it is a writable
 * directory (creating 2,000 small files on a disk file system costs far more than reading
 * them from the WIM), else the OS temp dir. Tens of MB at most for a real image.
 */
export function scratchDir(): string {
  const env = process.env['MSU_TMPDIR'];
  if (env) return env;
  try {
    accessSync('/dev/shm', fsConstants.W_OK);
    if (statSync('/dev/shm').isDirectory()) return '/dev/shm';
  } catch {
    // not Linux, or no tmpfs
  }
  return os.tmpdir();
}

type ImageXml = Awaited<ReturnType<typeof wimInfo>>['images'][number];

/** What wimlib gives for one image: the extracted files (in a temp dir) and the DriverStore listing. */
interface Fetched {
  index: number;
  tmp: string;
  files: string[];
  driverStore: string[];
}

async function fetchImage(file: string, index: number, opts: InventoryOptions): Promise<Fetched> {
  const tmp = await mkdtemp(path.join(opts.tempDir ?? scratchDir(), 'msu-inv-'));
  try {
    // Both runs read the image metadata; on a multi-core box they overlap.
    const [extracted, listing] = await Promise.all([
      wimExtract(file, index, [`${PACKAGES_DIR}/*.mum`, `${INF_DIR}/oem*.inf`], tmp, opts),
      wimDir(file, index, FILE_REPOSITORY, opts).catch((err: unknown) => {
        if (err instanceof MsuError && err.code === 'E_WIM_NO_PATH') return [] as string[];
        throw err;
      }),
    ]);
    return { index, tmp, files: extracted.files, driverStore: childNames(listing, FILE_REPOSITORY) };
  } catch (err) {
    await rm(tmp, { recursive: true, force: true });
    throw err;
  }
}

/** Parse what fetchImage extracted. Synchronous: runs while wimlib already reads the next image. */
function readImage(f: Fetched, info: ImageXml | undefined): InventoryImage {
  const warnings: string[] = [];
  const packages: InstalledPackage[] = [];
  const drivers: OemDriver[] = [];
  for (const rel of f.files) {
    const base = rel.slice(rel.lastIndexOf('/') + 1);
    const where = `image ${f.index}: /${rel}`;
    try {
      if (!rel.toLowerCase().endsWith('.mum')) {
        drivers.push(readInfVersion(readExtracted(f.tmp, rel).bytes, base));
        continue;
      }
      const head = readExtracted(f.tmp, rel, MUM_HEAD_BYTES);
      const mum = readPackageManifest(head.bytes, head.whole, base) ?? readPackageManifest(readExtracted(f.tmp, rel).bytes, true, base)!;
      const id = mum.identity;
      const pkg: InstalledPackage = {
        packageId: mum.packageId,
        name: id.name,
        version: id.version,
        arch: id.processorArchitecture,
        language: id.language === '' ? 'neutral' : id.language,
        publicKeyToken: id.publicKeyToken,
        mum: base,
      };
      if (mum.package?.releaseType) pkg.releaseType = mum.package.releaseType;
      packages.push(pkg);
    } catch (err) {
      warnings.push(err instanceof MsuError ? `${where}: ${err.message}${err.where ? ` (${err.where})` : ''}` : `${where}: cannot read: ${(err as Error).message}`);
    }
  }

  packages.sort((a, b) => byLower(a.packageId, b.packageId));
  drivers.sort((a, b) => byLower(a.inf, b.inf));
  const foundationVersion = highest(packages, (n) => n === 'microsoft-windows-foundation-package');
  const rollupFixVersion = highest(packages, (n) => n === 'package_for_rollupfix');
  const servicingStackVersion = highest(packages, (n) => n.startsWith('package_for_servicingstack'));
  const xmlVersion = info?.version;
  const v = resolveVersion(xmlVersion, foundationVersion, rollupFixVersion);
  const img: InventoryImage = {
    index: f.index,
    name: info?.name ?? '',
    arch: info?.arch ?? 'unknown',
    versionSource: v.versionSource,
    languages: info?.languages ?? [],
    packages,
    drivers,
    driverStore: f.driverStore,
    warnings,
  };
  if (info?.edition) img.edition = info.edition;
  if (info?.installationType) img.installationType = info.installationType;
  if (v.version) img.version = v.version;
  if (xmlVersion) img.xmlVersion = xmlVersion;
  if (info?.defaultLanguage) img.defaultLanguage = info.defaultLanguage;
  if (foundationVersion) img.foundationVersion = foundationVersion;
  if (rollupFixVersion) img.rollupFixVersion = rollupFixVersion;
  if (servicingStackVersion) img.servicingStackVersion = servicingStackVersion;
  return img;
}

/**
 * Inventory of one image (`index`) or of every image in the WIM. Per image, wimlib extracts
 * only `Windows\servicing\Packages\*.mum` and `Windows\INF\oem*.inf` to a private temp dir and
 * lists `DriverStore\FileRepository`; the next image is fetched while this one is parsed.
 */
export async function imageInventory(wimPath: string, index?: number, opts: InventoryOptions = {}): Promise<ImageInventory> {
  const info = await wimInfo(wimPath, opts);
  const all = info.images.length > 0 ? info.images.map((i) => i.index) : Array.from({ length: info.imageCount }, (_, i) => i + 1);
  let indexes = all;
  if (index !== undefined) {
    if (!all.includes(index)) {
      throw new UsageError(`image ${index} does not exist (the WIM has ${info.imageCount} image${info.imageCount === 1 ? '' : 's'})`, { file: wimPath });
    }
    indexes = [index];
  }
  const images: InventoryImage[] = [];
  const cleanups: Array<Promise<void>> = [];
  const fetch = (i: number): Promise<Fetched> => {
    const p = fetchImage(wimPath, i, opts);
    // A prefetch that fails is reported when its turn comes, not as an unhandled rejection.
    p.catch(() => undefined);
    return p;
  };
  let next: Promise<Fetched> | undefined = indexes.length ? fetch(indexes[0]!) : undefined;
  try {
    for (let k = 0; k < indexes.length; k++) {
      opts.onImage?.(indexes[k]!, info.imageCount);
      const cur = await next!;
      next = k + 1 < indexes.length ? fetch(indexes[k + 1]!) : undefined;
      try {
        images.push(readImage(cur, info.images.find((x) => x.index === cur.index)));
      } finally {
        cleanups.push(rm(cur.tmp, { recursive: true, force: true }));
      }
    }
  } finally {
    // Let an abandoned prefetch finish so its temp dir is removed too.
    if (next) cleanups.push(next.then((f) => rm(f.tmp, { recursive: true, force: true }), () => undefined));
    await Promise.all(cleanups);
  }
  return { file: wimPath, imageCount: info.imageCount, images };
}
