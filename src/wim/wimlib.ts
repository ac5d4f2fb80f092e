import { stat } from 'node:fs/promises';
import path from 'node:path';
import { FormatError, IoError, MsuError, TruncatedError, UsageError, ioError } from '../errors.js';
import { runTool, ToolRunError, type RunToolOptions } from '../util/exec.js';
import { pathTaken, StagedDir, writeThroughTemp } from '../util/fsout.js';
import { listFiles } from '../util/walk.js';
import { child, childrenNamed, parseXml, type XmlElement } from '../util/xml.js';
import type { WimImage, WimInfo, WindowsArch } from './types.js';

/**
 * Typed wrapper around `wimlib-imagex` (Debian package `wimtools`). wimlib does the WIM
 * format work (LZX/XPRESS/LZMS, blob table, metadata resources); this module only builds
 * argument lists, parses what wimlib prints, and turns its failures into MsuErrors:
 *
 * - bad WIM (wimlib exit codes for invalid header, metadata, hash, compressed data, XML,
 *   premature end of file) → FormatError `E_WIM_CORRUPT` / TruncatedError, naming the file;
 * - images whose directory tree wimlib had to repair while reading ("." / ".." entries,
 *   duplicate names) → FormatError `E_WIM_INVALID_TREE`: such an image was made by a
 *   broken or hostile tool and we refuse it rather than quietly read a different tree;
 * - wrong image index → UsageError; path not in the image → `E_WIM_NO_PATH`;
 * - anything else → ToolError with wimlib's own message and exit code.
 *
 * Writes never leave a half-written WIM under the target name (see docs/wim.md).
 */

export const WIMLIB = 'wimlib-imagex';

export interface WimProgress {
  /** wimlib's phase text, e.g. "Archiving file data", "Extracting file data". */
  phase: string;
  percent: number;
  line: string;
}

export interface WimRunOptions {
  onProgress?: (p: WimProgress) => void;
  timeoutMs?: number;
}

export type WimCompression = 'none' | 'XPRESS' | 'LZX' | 'LZMS';

const ARCH: Record<string, WindowsArch> = { '0': 'x86', '5': 'arm', '6': 'ia64', '9': 'amd64', '12': 'arm64' };

/** wimlib exit codes (enum wimlib_error_code) that mean "this WIM is damaged or not a WIM". */
const CORRUPT_CODES = new Set([
  2, // DECOMPRESSION
  13, // INTEGRITY
  17, // INVALID_HEADER
  19, // INVALID_INTEGRITY_TABLE
  20, // INVALID_LOOKUP_TABLE_ENTRY
  21, // INVALID_METADATA_RESOURCE
  26, // INVALID_PIPABLE_WIM
  27, // INVALID_REPARSE_DATA
  28, // INVALID_RESOURCE_HASH
  30, // INVALID_UTF16_STRING
  43, // NOT_A_WIM_FILE
  55, // RESOURCE_NOT_FOUND
  67, // UNKNOWN_VERSION
  73, // XML
]);
const ERR_INVALID_IMAGE = 18;
const ERR_OPEN = 47;
const ERR_PATH_DOES_NOT_EXIST = 49;
const ERR_UNEXPECTED_END_OF_FILE = 65;

/** Warnings wimlib prints when it silently repairs an image's directory tree on read. */
const INVALID_TREE_WARNINGS = [/Ignoring file named "\." or "\.\."/, /Ignoring duplicate file/];

/** Pull wimlib's own explanation out of its stderr: `[ERROR] …` lines and the "Exiting with error code" text. */
export function wimlibMessage(stderr: string): string {
  const lines = stderr.split(/\r\n|\r|\n/);
  const parts: string[] = [];
  for (let i = 0; i < lines.length; i++) {
    const l = lines[i]!.trim();
    const m = /^\[ERROR\]\s*(.*)$/.exec(l);
    if (m) {
      // wimlib quotes the absolute path it opened; the error already names the file.
      parts.push(m[1]!.replace(/^"[^"]*":\s*/, '').replace(/"\/[^"]*"/g, 'the file'));
      continue;
    }
    if (/^ERROR: Exiting with error code \d+:/.test(l)) {
      const desc: string[] = [];
      for (let j = i + 1; j < lines.length && /^\s+\S/.test(lines[j]!); j++) desc.push(lines[j]!.trim());
      if (desc.length) parts.push(desc.join(' ').replace(/\.$/, ''));
      continue;
    }
    // "X failed verification!" only repeats that the command failed.
    const other = /^ERROR:\s*(.*)$/.exec(l);
    if (other && !/failed verification!?$/.test(other[1]!)) parts.push(other[1]!.replace(/"\/[^"]*"/g, 'the file'));
  }
  const uniq = [...new Set(parts.map((p) => p.replace(/!+$/, '')).filter((p) => p.length > 0))];
  return uniq.join(': ') || 'failed';
}

/** Map a failed wimlib run to the right MsuError kind. */
export function mapWimlibError(err: unknown, file: string, op: string): unknown {
  if (!(err instanceof ToolRunError) || err.code !== 'E_TOOL_FAILED' || err.exitCode === undefined) return err;
  const code = err.exitCode;
  const msg = wimlibMessage(err.stderr);
  const ctx = { file, cause: err };
  if (code === ERR_UNEXPECTED_END_OF_FILE) return new TruncatedError(`WIM is truncated: ${msg} (wimlib error ${code})`, ctx);
  if (CORRUPT_CODES.has(code)) return new FormatError('E_WIM_CORRUPT', `invalid WIM: ${msg} (wimlib error ${code})`, ctx);
  if (code === ERR_INVALID_IMAGE) return new UsageError(`no such image in this WIM: ${msg}`, ctx);
  // a later part of a split WIM (install2.swm) named where the set is read from its first part
  if (/not the first part of the split WIM/i.test(err.stderr)) return new UsageError('is not the first part of a split WIM: name the first part (e.g. install.swm, not install2.swm)', ctx);
  if (code === ERR_PATH_DOES_NOT_EXIST) return new MsuError('E_WIM_NO_PATH', `${msg} (wimlib error ${code})`, ctx, 'input');
  if (code === ERR_OPEN) return new IoError('E_IO_OPEN', `cannot open: ${msg}`, ctx);
  return new ToolRunError('E_TOOL_FAILED', `${WIMLIB} ${op} failed: ${msg} (exit code ${code})`, WIMLIB, code, err.stderr, file);
}

function checkTree(stderr: string, file: string): void {
  for (const re of INVALID_TREE_WARNINGS) {
    const line = stderr.split(/\r\n|\r|\n/).find((l) => re.test(l));
    if (line) {
      const what = line.replace(/^.*\[WARNING\]\s*/, '').trim();
      throw new FormatError('E_WIM_INVALID_TREE', `invalid image directory tree: ${what}`, { file });
    }
  }
}

const PROGRESS = /^\s*([A-Za-z][^:]*):\s.*\((\d{1,3})%\)/;

async function wimlib(
  args: string[],
  file: string,
  opts: WimRunOptions & { input?: string; binary?: boolean; ignoreCase?: boolean } = {},
): Promise<{ stdout: string; bytes?: Uint8Array; stderr: string }> {
  const onProgress = opts.onProgress;
  const run: RunToolOptions & { binary?: false } = {
    file,
    ...(opts.timeoutMs !== undefined ? { timeoutMs: opts.timeoutMs } : {}),
    ...(opts.input !== undefined ? { input: opts.input } : {}),
    // Windows semantics: paths inside an image are matched case-insensitively.
    env: { WIMLIB_IMAGEX_IGNORE_CASE: opts.ignoreCase === false ? '0' : '1' },
    ...(onProgress
      ? {
          onLine: (line: string) => {
            const m = PROGRESS.exec(line);
            if (m) onProgress({ phase: m[1]!.trim(), percent: Number(m[2]), line: line.trim() });
          },
        }
      : {}),
  };
  try {
    if (opts.binary) {
      const r = await runTool(WIMLIB, args, { ...run, binary: true });
      return { stdout: '', bytes: r.stdout, stderr: r.stderr };
    }
    const r = await runTool(WIMLIB, args, run);
    return { stdout: r.stdout, stderr: r.stderr };
  } catch (err) {
    throw mapWimlibError(err, file, args[0] ?? '');
  }
}

function checkIndex(index: number, file: string): string {
  if (!Number.isInteger(index) || index < 1) throw new UsageError(`image index must be a whole number from 1, got ${index}`, { file });
  return String(index);
}

/** wimlib paths inside an image: absolute, forward slashes; `@` would mean "list file". */
function imagePath(p: string, file: string): string {
  const unified = p.replace(/\\/g, '/');
  if (/[\u0000-\u001f]/.test(unified)) throw new UsageError(`path inside the image contains control characters: ${JSON.stringify(p)}`, { file });
  const abs = unified.startsWith('/') ? unified : '/' + unified;
  if (abs.split('/').some((c) => c === '..')) throw new UsageError(`path inside the image may not contain "..": ${JSON.stringify(p)}`, { file });
  return abs;
}

async function fileSize(file: string): Promise<number> {
  try {
    const st = await stat(file);
    if (!st.isFile()) throw new IoError('E_IO_NOT_FILE', 'not a regular file', { file });
    return st.size;
  } catch (err) {
    throw ioError(err, file);
  }
}

// ---------------------------------------------------------------- info

const int = (s: string | undefined): number | undefined => {
  if (s === undefined) return undefined;
  const t = s.trim();
  if (/^[0-9]+$/.test(t)) return Number(t);
  if (/^0x[0-9a-f]+$/i.test(t)) return Number.parseInt(t.slice(2), 16);
  return undefined;
};
const text = (el: XmlElement | undefined, name: string): string | undefined => {
  const c = el ? child(el, name) : undefined;
  return c && c.text !== '' ? c.text : undefined;
};

/** Parse the WIM XML document (what `wimlib-imagex info --xml` prints, UTF-16LE) into images. Pure. */
export function parseWimXml(xml: Uint8Array | string, file?: string): WimImage[] {
  const root = parseXml(xml, file);
  if (root.name !== 'WIM') throw new FormatError('E_WIM_XML', `WIM XML root is <${root.name}>, expected <WIM>`, { file, where: root.name });
  const images: WimImage[] = [];
  for (const img of childrenNamed(root, 'IMAGE')) {
    const index = int(img.attrs['INDEX']);
    if (index === undefined || index < 1) {
      throw new FormatError('E_WIM_XML', `<IMAGE> has no valid INDEX attribute (${JSON.stringify(img.attrs['INDEX'] ?? '')})`, { file, where: 'WIM/IMAGE' });
    }
    const win = child(img, 'WINDOWS');
    const ver = win ? child(win, 'VERSION') : undefined;
    const langs = win ? child(win, 'LANGUAGES') : undefined;
    const archCode = text(win, 'ARCH');
    const image: WimImage = {
      index,
      name: text(img, 'NAME') ?? '',
      arch: archCode === undefined ? 'unknown' : (ARCH[String(int(archCode) ?? archCode)] ?? 'unknown'),
      languages: langs ? childrenNamed(langs, 'LANGUAGE').map((l) => l.text).filter((l) => l !== '') : [],
    };
    const set = <K extends keyof WimImage>(k: K, v: WimImage[K] | undefined): void => {
      if (v !== undefined) image[k] = v;
    };
    set('description', text(img, 'DESCRIPTION'));
    set('displayName', text(img, 'DISPLAYNAME'));
    set('flags', text(img, 'FLAGS'));
    set('edition', text(win, 'EDITIONID'));
    set('installationType', text(win, 'INSTALLATIONTYPE'));
    set('productName', text(win, 'PRODUCTNAME'));
    set('productType', text(win, 'PRODUCTTYPE'));
    set('defaultLanguage', text(langs, 'DEFAULT'));
    set('fileCount', int(text(img, 'FILECOUNT')));
    set('directoryCount', int(text(img, 'DIRCOUNT')));
    set('totalBytes', int(text(img, 'TOTALBYTES')));
    set('hardLinkBytes', int(text(img, 'HARDLINKBYTES')));
    const major = int(text(ver, 'MAJOR'));
    const minor = int(text(ver, 'MINOR'));
    const build = int(text(ver, 'BUILD'));
    const spbuild = int(text(ver, 'SPBUILD'));
    // Without SPBUILD the UBR is unknown: keep three parts rather than invent ".0".
    if (major !== undefined && minor !== undefined && build !== undefined) {
      set('version', spbuild === undefined ? `${major}.${minor}.${build}` : `${major}.${minor}.${build}.${spbuild}`);
    }
    images.push(image);
  }
  images.sort((a, b) => a.index - b.index);
  return images;
}

/** Header facts from the text of plain `wimlib-imagex info WIM`. Pure. */
export function parseWimInfoText(out: string): Pick<WimInfo, 'imageCount' | 'compression' | 'bootIndex' | 'chunkSize' | 'partNumber' | 'totalParts'> {
  const head = out.split(/\nAvailable Images:/)[0] ?? out;
  const field = (name: string): string | undefined => {
    const m = new RegExp(`^${name}:\\s*(.*)$`, 'm').exec(head);
    return m ? m[1]!.trim() : undefined;
  };
  const r: ReturnType<typeof parseWimInfoText> = { imageCount: int(field('Image Count')) ?? 0 };
  const compression = field('Compression');
  if (compression) r.compression = compression;
  const boot = int(field('Boot Index'));
  if (boot !== undefined) r.bootIndex = boot;
  const chunk = int(field('Chunk Size')?.replace(/\s*bytes$/, ''));
  if (chunk !== undefined) r.chunkSize = chunk;
  const part = /^(\d+)\/(\d+)$/.exec(field('Part Number') ?? '');
  if (part) {
    r.partNumber = Number(part[1]);
    r.totalParts = Number(part[2]);
  }
  return r;
}

/** Everything wimlib knows about a WIM without reading any image's metadata: header and XML. */
export async function wimInfo(file: string, opts: WimRunOptions = {}): Promise<WimInfo> {
  const size = await fileSize(file);
  const header = await wimlib(['info', file], file, opts);
  const xml = await wimlib(['info', file, '--xml'], file, { ...opts, binary: true });
  const images = parseWimXml(xml.bytes ?? new Uint8Array(), file);
  const head = parseWimInfoText(header.stdout);
  return { file, size, ...head, images };
}

// ---------------------------------------------------------------- read

/**
 * Paths under `subpath` (default the root) in image `index`, as wimlib prints them:
 * absolute, `/`-separated, the directory itself first, recursive.
 */
export async function wimDir(file: string, index: number, subpath?: string, opts: WimRunOptions = {}): Promise<string[]> {
  const args = ['dir', file, checkIndex(index, file)];
  if (subpath !== undefined) args.push(`--path=${imagePath(subpath, file)}`);
  const r = await wimlib(args, file, opts);
  checkTree(r.stderr, file);
  return r.stdout.split('\n').filter((l) => l.length > 0);
}

/** Immediate children names of a directory in an image (from `wimDir`). */
export function childNames(listing: string[], dir: string): string[] {
  const prefix = dir.replace(/\\/g, '/').replace(/\/+$/, '').toLowerCase() + '/';
  const out = new Set<string>();
  for (const p of listing) {
    if (!p.toLowerCase().startsWith(prefix)) continue;
    const rest = p.slice(prefix.length);
    if (rest.length > 0 && !rest.includes('/')) out.add(rest);
  }
  return [...out].sort();
}

export interface WimExtractOptions extends WimRunOptions {
  /** Treat `*` and `?` literally. Default: globs on. wimlib then always fails on a path that does not exist, as with `strict`. */
  noGlobs?: boolean;
  /** Fail when a path or glob matches nothing. Default: ignore (wimlib --nullglob, which applies to globs only). */
  strict?: boolean;
  /** Replace regular files of the same name already in destDir (see StagedDir). Default: refuse. */
  overwrite?: boolean;
}

export interface WimExtractResult {
  /** Regular files written, relative to destDir, `/`-separated, sorted. */
  files: string[];
}

/**
 * Extract `paths` (absolute image paths, globs allowed) of image `index` under `destDir`,
 * keeping the image's directory structure. Everything goes to a staging directory first and
 * is moved into place only when wimlib succeeded, so a failure leaves destDir as it was.
 */
export async function wimExtract(
  file: string,
  index: number,
  paths: string[],
  destDir: string,
  opts: WimExtractOptions = {},
): Promise<WimExtractResult> {
  if (paths.length === 0) throw new UsageError('nothing to extract: no paths given', { file });
  const idx = checkIndex(index, file);
  const imgPaths = paths.map((p) => imagePath(p, file));
  const staged = await StagedDir.create(destDir, { overwrite: opts.overwrite });
  try {
    const args = ['extract', file, idx, ...imgPaths, `--dest-dir=${staged.staging}`, '--no-acls', '--preserve-dir-structure'];
    // wimlib refuses --nullglob together with --no-globs
    if (opts.noGlobs) args.push('--no-globs');
    else if (!opts.strict) args.push('--nullglob');
    const r = await wimlib(args, file, opts);
    checkTree(r.stderr, file);
    const files = await listFiles(staged.staging, destDir);
    await staged.commit();
    return { files };
  } catch (err) {
    await staged.abort();
    throw err;
  }
}

/** Full integrity check: header, blob table, XML, every image's metadata, every blob's hash. */
export async function wimVerify(file: string, opts: WimRunOptions = {}): Promise<void> {
  await fileSize(file);
  const r = await wimlib(['verify', file], file, opts);
  checkTree(r.stderr, file);
}

// ---------------------------------------------------------------- write

/** Write a new WIM at `out` through a temp name in the same directory and a rename. */
const writeNew = writeThroughTemp;

export interface WimCaptureOptions extends WimRunOptions {
  description?: string;
  compress?: WimCompression;
  /** `--image-property NAME=VALUE`, e.g. `{ 'WINDOWS/ARCH': '9' }`; applied in key order given. */
  properties?: Record<string, string>;
  /** Add the image to an existing WIM (wimlib `append`) instead of creating `out`. */
  append?: boolean;
  /** Mark the new image bootable. */
  boot?: boolean;
}

function propertyArgs(props: Record<string, string> | undefined, file: string): string[] {
  const args: string[] = [];
  for (const [k, v] of Object.entries(props ?? {})) {
    if (!/^[A-Za-z][A-Za-z0-9_/[\]]*$/.test(k)) throw new UsageError(`invalid image property name ${JSON.stringify(k)}`, { file });
    args.push('--image-property', `${k}=${v}`);
  }
  return args;
}

/**
 * Capture directory `dir` as a new image named `name`. A new WIM is written under a temp name
 * and renamed; `append` uses wimlib's `--rebuild`, which writes a temp file and renames too.
 */
export async function wimCapture(dir: string, out: string, name: string, opts: WimCaptureOptions = {}): Promise<void> {
  const tail = [...propertyArgs(opts.properties, out)];
  if (opts.compress) tail.push(`--compress=${opts.compress}`);
  if (opts.boot) tail.push('--boot');
  const named = [name, ...(opts.description !== undefined ? [opts.description] : [])];
  if (opts.append) {
    await fileSize(out);
    await wimlib(['append', dir, out, ...named, ...tail, '--rebuild'], out, opts);
    return;
  }
  if (await pathTaken(out)) throw new IoError('E_IO_EXISTS', 'already exists (use append to add an image)', { file: out });
  await writeNew(out, (tmp) => wimlib(['capture', dir, tmp, ...named, ...tail], out, opts).then(() => undefined));
}

export type WimUpdateCommand =
  | { op: 'add'; src: string; dest: string }
  | { op: 'delete'; path: string }
  | { op: 'rename'; from: string; to: string };

/** Quote one argument for wimlib's update-command parser (no escapes: pick a quote the text lacks). */
function quoteCmdArg(s: string, file: string): string {
  if (/[\r\n\u0000]/.test(s)) throw new UsageError(`update path contains a line break or NUL: ${JSON.stringify(s)}`, { file });
  if (!s.includes('"')) return `"${s}"`;
  if (!s.includes("'")) return `'${s}'`;
  throw new UsageError(`update path contains both quote characters: ${JSON.stringify(s)}`, { file });
}

/** The command file `wimlib-imagex update` reads on stdin. Pure. */
export function updateScript(commands: WimUpdateCommand[], file = ''): string {
  const q = (s: string): string => quoteCmdArg(s, file);
  const ip = (s: string): string => q(imagePath(s, file));
  return commands
    .map((c) => {
      switch (c.op) {
        case 'add':
          return `add ${q(c.src)} ${ip(c.dest)}`;
        case 'delete':
          return `delete --recursive ${ip(c.path)}`;
        case 'rename':
          return `rename ${ip(c.from)} ${ip(c.to)}`;
        default:
          throw new UsageError(`unknown update operation ${JSON.stringify((c as { op: unknown }).op)}`, { file });
      }
    })
    .join('\n') + '\n';
}

/**
 * Apply add/delete/rename commands to image `index`, all or nothing. wimlib runs with
 * `--rebuild`: it writes the whole updated WIM to a temp file beside the target and renames
 * it over the original only after everything succeeded, so a failure or a kill leaves the
 * original file byte-for-byte unchanged (at most a stray temp file beside it).
 */
export async function wimUpdate(file: string, index: number, commands: WimUpdateCommand[], opts: WimRunOptions = {}): Promise<void> {
  if (commands.length === 0) return;
  const idx = checkIndex(index, file);
  await fileSize(file);
  const script = updateScript(commands, file);
  await wimlib(['update', file, idx, '--rebuild', '--no-acls'], file, { ...opts, input: script });
}

export interface WimExportOptions extends WimRunOptions {
  name?: string;
  description?: string;
  compress?: WimCompression;
  boot?: boolean;
}

/**
 * Export image `image` (or `'all'`) of `src` into `dest`. A new `dest` is written under a temp
 * name and renamed; into an existing `dest` wimlib runs with `--rebuild` (temp file + rename).
 */
export async function wimExport(src: string, image: number | 'all', dest: string, opts: WimExportOptions = {}): Promise<void> {
  await fileSize(src);
  const sel = image === 'all' ? 'all' : checkIndex(image, src);
  const named: string[] = [];
  if (opts.name !== undefined || opts.description !== undefined) {
    if (image === 'all') throw new UsageError('a new image name cannot be given when exporting all images', { file: src });
    named.push(opts.name ?? '');
    if (opts.description !== undefined) named.push(opts.description);
  }
  const tail: string[] = [];
  if (opts.compress) tail.push(`--compress=${opts.compress}`);
  if (opts.boot) tail.push('--boot');
  if (await pathTaken(dest)) {
    await wimlib(['export', src, sel, dest, ...named, ...tail, '--rebuild'], src, opts);
    return;
  }
  await writeNew(dest, (tmp) => wimlib(['export', src, sel, tmp, ...named, ...tail], src, opts).then(() => undefined));
}

/**
 * Split a WIM into parts of at most `partMiB` MiB (`wimlib-imagex split`): `first` names part 1
 * (e.g. install.swm), later parts get 2, 3, … before the extension, as Windows Setup expects.
 * Returns the part files in order.
 */
export async function wimSplit(file: string, first: string, partMiB: number, opts: WimRunOptions = {}): Promise<string[]> {
  if (!Number.isInteger(partMiB) || partMiB < 1) throw new UsageError(`split part size must be a whole number of MiB, got ${partMiB}`, { file });
  await fileSize(file);
  await wimlib(['split', file, first, String(partMiB)], file, opts);
  const dir = path.dirname(first);
  const ext = path.extname(first);
  const stem = path.basename(first, ext);
  const parts = [first];
  for (let k = 2; await pathTaken(path.join(dir, `${stem}${k}${ext}`)); k++) parts.push(path.join(dir, `${stem}${k}${ext}`));
  return parts;
}

export interface WimOptimizeOptions extends WimRunOptions {
  recompress?: boolean;
  compress?: WimCompression;
}

/** Rebuild a WIM without holes (wimlib writes a temp file and renames it over the original). */
export async function wimOptimize(file: string, opts: WimOptimizeOptions = {}): Promise<void> {
  await fileSize(file);
  const args = ['optimize', file];
  if (opts.recompress) args.push('--recompress');
  if (opts.compress) args.push(`--compress=${opts.compress}`);
  await wimlib(args, file, opts);
}
