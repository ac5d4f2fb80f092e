/**
 * How the CLI's own CommonJS modules (dist/src) load at start-up: from one bundle of module
 * bodies where it can, else from a V8 code cache. Node 20 resolves, reads, parses and compiles
 * each module on each start, and compiles each function again the first time it runs: for the
 * 30-odd modules of `msu inspect` that is 15-20 ms of a 100 ms run (docs/performance.md).
 * bin/msu.js installs this before it loads anything else; MSU_CODE_CACHE=off leaves Node to itself.
 *
 * The bundle (dist/src/bundle.js, written by scripts/code-cache.mjs) holds the bodies of the
 * modules the common commands load, each the module's text inside the CommonJS wrapper (in ASCII):
 * one script with one cache entry. A bundled module requiring another by relative path gets it
 * from the bundle without Node's resolution and file reads; everything else goes to Node. Each
 * bundled module is a real Module in Node's module cache under its own file name, so it is one
 * object however it is required. A module file that is newer than the bundle or has another size
 * is loaded from the file (a build that skipped the bundle, an edit in dist); an npm install,
 * which gives every file the same mtime, keeps the bundle in use. Stack traces of bundled
 * modules point into the bundle; MSU_CODE_CACHE=off gives the modules' own files.
 *
 * The code cache: the build records what V8 compiled while running the common commands on a
 * sample and keeps one entry per script (the bundle, and modules outside it). An entry holds the
 * script's source text beside V8's data and is used only when that text is the script's text
 * now: V8 compares only the length of the source. V8 refuses data from another V8 version or
 * other flags, or with a damaged header; it does not checksum the rest in release builds, so an
 * entry is trusted like the JavaScript beside it (the build writes both, each file atomically).
 * Whatever is refused or missing, the script compiles from source as without the cache. No hash
 * here: node:zlib or node:crypto would cost as much start-up as the cache saves.
 */
import { mkdirSync, readFileSync, statSync } from 'node:fs';
import Module from 'node:module';
import path from 'node:path';
import { Script } from 'node:vm';

/** How the modules loaded since install() were compiled. */
export interface CodeCacheStats {
  /** Run from the bundle: neither read nor compiled on their own. */
  bundled: number;
  /** Compiled from a cache entry V8 accepted. */
  hits: number;
  /** No entry, or an entry for other source text. */
  misses: number;
  /** An entry V8 refused (another V8 version, other V8 flags, a damaged header). */
  rejected: number;
}

export interface CodeCache {
  readonly stats: CodeCacheStats;
  /** The exports of a module under the root (an absolute file name): from the bundle when it holds it, else through Node. */
  load(filename: string): unknown;
  /** Record mode only: write an entry for every script compiled so far; returns how many. */
  save(): Promise<number>;
  /** Stop serving and recording: modules loaded later load as Node loads them. */
  uninstall(): void;
}

/** An entry: magic, the source's UTF-8 byte length (u32 little-endian), the source, V8's data. */
const MAGIC = Buffer.from('MSUV8C2\0', 'latin1');
const HEADER = MAGIC.length + 4;

type CompileFn = (this: NodeModule, content: string, filename: string) => unknown;
interface ModuleInternals {
  new (id: string, parent?: NodeModule): NodeModule;
  prototype: { _compile: CompileFn };
  wrap(code: string): string;
  _resolveFilename(request: string, parent: NodeModule, isMain: boolean, options?: { paths?: string[] }): string;
  _nodeModulePaths(dir: string): string[];
  _cache: NodeJS.Require['cache'];
}

/** The entry bytes for a module's source text and V8's cached data. */
export function encodeEntry(source: string, data: Uint8Array): Buffer {
  const text = Buffer.from(source, 'utf8');
  const head = Buffer.alloc(HEADER);
  MAGIC.copy(head, 0);
  head.writeUInt32LE(text.length, MAGIC.length);
  return Buffer.concat([head, text, data]);
}

/** V8's cached data from an entry, or null when the entry is not one or is for other source text. */
export function decodeEntry(entry: Buffer, source: string): Buffer | null {
  if (entry.length < HEADER || !entry.subarray(0, MAGIC.length).equals(MAGIC)) return null;
  const end = HEADER + entry.readUInt32LE(MAGIC.length);
  if (end > entry.length || entry.toString('utf8', HEADER, end) !== source) return null;
  return entry.subarray(end);
}

/** A module's body as the bundle holds it: the function Node would compile around the file's text. */
export type ModuleBody = (exports: unknown, require: NodeJS.Require, module: NodeModule, filename: string, dirname: string) => unknown;
/** The bundle's export: per module path under the root (`/`-separated), the file's size in bytes and the body. */
export type BundleBodies = Map<string, [size: number, body: ModuleBody]>;

/**
 * One module's line in the bundle: its path under the root (`/`-separated), its file's size and its
 * source wrapped as a body. Characters outside ASCII (a few, in messages and comments) are written as
 * \uXXXX escapes, which mean the same in strings, templates, regular expressions, identifiers and
 * comments: an ASCII file is read into a one-byte string without a UTF-8 decode, which at start-up
 * costs 1-2 ms for each of the bundle and its cache entry otherwise (docs/performance.md).
 */
export function bundleBody(rel: string, source: string): string {
  // an odd run of backslashes before such a character escaped it ('\→' is '→'): the escape replaces the last one.
  // U+2028 and U+2029 end a line, a // comment included: they stay as they are.
  const ascii = source.replace(/(\\*)([^\x00-\x7f\u2028\u2029])/g, (_, slashes: string, c: string) =>
    `${slashes.slice(0, slashes.length & ~1)}\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
  return `bodies.set(${JSON.stringify(rel)}, [${Buffer.byteLength(source, 'utf8')}, function (exports, require, module, __filename, __dirname) {\n${ascii}\n}]);`;
}

/** The text of dist/src/bundle.js: each module's body (bundleBody), by path. */
export function bundleText(modules: ReadonlyMap<string, string>): string {
  const parts = ['// Generated by scripts/code-cache.mjs (src/cli/code-cache.ts): do not edit.', 'const bodies = new Map();'];
  for (const rel of [...modules.keys()].sort()) parts.push(bundleBody(rel, modules.get(rel)!));
  parts.push('module.exports = bodies;', '');
  return parts.join('\n');
}

/**
 * Serve (and with `record`, collect) cached code for the CommonJS modules under `root`, from
 * entries in `dir` laid out like `root` (`cli/main.js` → `cli/main.js.v8c`), and with `bundle`
 * (a module under `root`; a missing one is no bundle) run the modules it holds from it, for
 * loads through `load()` and the bundled modules' own requires. Other modules (node_modules,
 * Node's own) are left to Node.
 */
export function installCodeCache(root: string, dir: string, opts: { record?: boolean; bundle?: string } = {}): CodeCache {
  const M = Module as unknown as ModuleInternals;
  const original = M.prototype._compile;
  const under = path.resolve(root) + path.sep;
  const stats: CodeCacheStats = { bundled: 0, hits: 0, misses: 0, rejected: 0 };
  const recorded: { file: string; source: string; script: Script }[] = [];
  let active = true;

  const compile = function (this: NodeModule, content: string, filename: string): unknown {
    // a real import() needs Node's own module loader hook, which a vm.Script does not get
    if (!active || !filename.startsWith(under) || content.includes('import(')) return original.call(this, content, filename);
    const file = path.join(dir, filename.slice(under.length) + '.v8c');
    let cached: Buffer | null = null;
    try {
      cached = decodeEntry(readFileSync(file), content);
    } catch {
      // no entry
    }
    const script = new Script(M.wrap(content), { filename, cachedData: cached ?? undefined });
    if (!cached) stats.misses++;
    else if (script.cachedDataRejected) stats.rejected++;
    else stats.hits++;
    if (opts.record) recorded.push({ file, source: content, script });
    const wrapper = script.runInThisContext({ displayErrors: true }) as (...args: unknown[]) => unknown;
    return wrapper.call(this.exports, this.exports, requireFor(this, M), this, filename, path.dirname(filename));
  };
  M.prototype._compile = compile;

  let bodies: BundleBodies | undefined;
  let bundleTime = 0;
  if (opts.bundle) {
    const st = statSync(opts.bundle, { throwIfNoEntry: false });
    if (st) {
      bundleTime = st.mtimeMs;
      bodies = Module.createRequire(opts.bundle)(opts.bundle) as BundleBodies;
    }
  }

  /** A module from the bundle, with `rel` its `/`-separated path under the root; undefined when the bundle cannot serve it. */
  const fromBundle = (rel: string, parent: NodeModule | undefined): { exports: unknown } | undefined => {
    const filename = under + (path.sep === '/' ? rel : rel.split('/').join(path.sep));
    const known = M._cache[filename];
    if (known) return known;
    const entry = active ? bodies?.get(rel) : undefined;
    if (!entry) return undefined;
    const st = statSync(filename, { throwIfNoEntry: false });
    if (!st || st.size !== entry[0] || st.mtimeMs > bundleTime) return undefined;
    const mod = new M(filename, parent);
    mod.filename = filename;
    mod.paths = M._nodeModulePaths(path.dirname(filename));
    // in the cache before the body runs, as Node does: a cycle gets the exports made so far
    M._cache[filename] = mod;
    try {
      entry[1].call(mod.exports, mod.exports, bundledRequire(mod, rel), mod, filename, path.dirname(filename));
    } catch (err) {
      delete M._cache[filename];
      throw err;
    }
    mod.loaded = true;
    stats.bundled++;
    return mod;
  };

  const bundledRequire = (mod: NodeModule, rel: string): NodeJS.Require => {
    const req = requireFor(mod, M);
    const dir = path.posix.dirname(rel);
    const wrapped = ((id: string) => {
      if (id.startsWith('./') || id.startsWith('../')) {
        const hit = fromBundle(path.posix.join(dir, id), mod);
        if (hit) return hit.exports;
      }
      return req(id);
    }) as NodeJS.Require;
    wrapped.resolve = req.resolve;
    wrapped.main = req.main;
    wrapped.cache = req.cache;
    return wrapped;
  };

  return {
    stats,
    load(filename: string) {
      const abs = path.resolve(filename);
      const hit = abs.startsWith(under) ? fromBundle(abs.slice(under.length).split(path.sep).join('/'), undefined) : undefined;
      return hit ? hit.exports : Module.createRequire(abs)(abs);
    },
    async save() {
      const { writeFileAtomic } = await import('../util/fsout.js');
      for (const r of recorded) {
        mkdirSync(path.dirname(r.file), { recursive: true });
        // taken now, not at compile time: it then holds the functions the commands ran too
        await writeFileAtomic(r.file, encodeEntry(r.source, r.script.createCachedData()));
      }
      return recorded.length;
    },
    uninstall() {
      active = false;
      if (M.prototype._compile === compile) M.prototype._compile = original;
    },
  };
}

/** The `require` a CommonJS module body receives (what Node builds for it). */
function requireFor(mod: NodeModule, M: ModuleInternals): NodeJS.Require {
  const req = ((id: string) => mod.require(id)) as NodeJS.Require;
  req.resolve = ((request: string, options?: { paths?: string[] }) => M._resolveFilename(request, mod, false, options)) as NodeJS.RequireResolve;
  req.main = process.mainModule;
  req.cache = M._cache;
  return req;
}
