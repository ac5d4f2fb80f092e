/**
 * A V8 code cache for the CLI's own CommonJS modules (dist/src). Node 20 parses and compiles
 * every module from source on each start, and compiles each function again the first time it
 * runs: 8-10 ms of a 100 ms `msu inspect` (docs/performance.md). The build records what V8
 * compiled while running the common commands on a sample (scripts/code-cache.mjs) and keeps
 * one entry per module; bin/msu.js installs the hook before it loads anything else.
 *
 * An entry holds the module's source text beside V8's data and is used only when that text is
 * the module's text now: V8 compares only the length of the source. V8 refuses data from another
 * V8 version or other flags, or with a damaged header; it does not checksum the rest in release
 * builds, so an entry is trusted like the JavaScript beside it (the build writes both, each file
 * atomically). Whatever is refused or missing, the module compiles from source as without the
 * cache. No hash here: node:zlib or node:crypto would cost as much start-up as the cache saves.
 */
import { mkdirSync, readFileSync } from 'node:fs';
import Module from 'node:module';
import path from 'node:path';
import { Script } from 'node:vm';

/** How the modules loaded since install() were compiled. */
export interface CodeCacheStats {
  /** Compiled from a cache entry V8 accepted. */
  hits: number;
  /** No entry, or an entry for other source text. */
  misses: number;
  /** An entry V8 refused (another V8 version, other V8 flags, a damaged header). */
  rejected: number;
}

export interface CodeCache {
  readonly stats: CodeCacheStats;
  /** Record mode only: write an entry for every module compiled so far; returns how many. */
  save(): Promise<number>;
  /** Stop serving and recording: modules loaded later compile as Node compiles them. */
  uninstall(): void;
}

/** An entry: magic, the source's UTF-8 byte length (u32 little-endian), the source, V8's data. */
const MAGIC = Buffer.from('MSUV8C2\0', 'latin1');
const HEADER = MAGIC.length + 4;

type CompileFn = (this: NodeModule, content: string, filename: string) => unknown;
interface ModuleInternals {
  prototype: { _compile: CompileFn };
  wrap(code: string): string;
  _resolveFilename(request: string, parent: NodeModule, isMain: boolean, options?: { paths?: string[] }): string;
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

/**
 * Serve (and with `record`, collect) cached code for the CommonJS modules under `root`, from
 * entries in `dir` laid out like `root` (`cli/main.js` → `cli/main.js.v8c`). Other modules
 * (node_modules, Node's own) are left to Node.
 */
export function installCodeCache(root: string, dir: string, opts: { record?: boolean } = {}): CodeCache {
  const M = Module as unknown as ModuleInternals;
  const original = M.prototype._compile;
  const under = path.resolve(root) + path.sep;
  const stats: CodeCacheStats = { hits: 0, misses: 0, rejected: 0 };
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

  return {
    stats,
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
