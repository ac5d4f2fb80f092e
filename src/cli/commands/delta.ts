import { createHash } from 'node:crypto';
import type { Command } from 'commander';
import { MismatchError, MsuError, UsageError, ioError } from '../../errors.js';
import { writeFileAtomic } from '../../util/fsout.js';
import type { CliContext } from '../context.js';
import { shownPath } from '../paths.js';

// Loaded when the command runs, not at CLI start (see inspect.ts).
const readWholeFile = async (file: string, what: string) => (await import('../../util/source.js')).readWholeFile(file, what);
const deltaLib = () => import('../../delta/index.js');

interface ApplyOpts {
  source?: string;
  baseManifest?: string;
  wcp?: string;
  output: string;
  hashCheck: boolean;
  expectSha256?: string;
  overwrite?: boolean;
  json?: boolean;
}

/** The base manifest for DCM manifests: --base-manifest, --wcp, or MSU_BASE_MANIFEST; undefined when none is given. */
export async function loadBaseManifest(opts: { baseManifest?: string; wcp?: string }): Promise<{ bytes: Uint8Array; from: string } | undefined> {
  if (opts.baseManifest !== undefined && opts.wcp !== undefined) throw new UsageError('give --base-manifest or --wcp, not both');
  if (opts.baseManifest !== undefined) return { bytes: await readWholeFile(opts.baseManifest, 'base manifest'), from: opts.baseManifest };
  if (opts.wcp !== undefined) {
    const { baseManifestFromWcp } = await deltaLib();
    const pe = await readWholeFile(opts.wcp, 'wcp.dll');
    try {
      return { bytes: baseManifestFromWcp(pe), from: opts.wcp };
    } catch (err) {
      throw ioError(err, opts.wcp);
    }
  }
  const env = process.env.MSU_BASE_MANIFEST;
  if (env) return { bytes: await readWholeFile(env, 'base manifest'), from: 'MSU_BASE_MANIFEST' };
  return undefined;
}

/**
 * A DCM manifest that does not decode, or decodes to something that is not a manifest, was most
 * likely given the base manifest of another servicing build: say which base was used.
 */
export function blameBase(err: MsuError, from: string): MsuError {
  if (err.kind === 'input') err.message += ` (decoded against the base manifest from ${from}: is it the one of this manifest's servicing build?)`;
  return err;
}

export const NEEDS_BASE_MANIFEST =
  'a DCM manifest is a delta against the base manifest in wcp.dll of the same servicing build: pass --base-manifest FILE, --wcp wcp.dll, or set MSU_BASE_MANIFEST';

export function register(program: Command, ctx: CliContext): void {
  const delta = program
    .command('delta')
    .description('apply MSDelta deltas (PA30/PA31, RAW file type; docs/delta.md)');

  delta
    .command('apply')
    .description('apply a PA30/PA31 delta (CRC32 prefix, DCM/DCN/DCD wrappers detected) to a source file, or to nothing')
    .argument('<delta>', 'the delta file')
    .option('--source <file>', 'the file the delta was made against (default: the empty source)')
    .option('--base-manifest <file>', 'for DCM manifests: the base manifest (as taken from wcp.dll)')
    .option('--wcp <file>', 'for DCM manifests: wcp.dll of the same servicing build, to take the base manifest from')
    .requiredOption('-o, --output <file>', 'write the target here, atomically (required)')
    .option('--no-hash-check', 'do not check the target hash the delta carries (forensics only)')
    .option('--overwrite', 'replace OUT when it exists (default: refuse)')
    .option('--expect-sha256 <hex>', 'also check the target against this SHA-256 (for deltas that carry no hash)')
    .option('--json', 'print what was done as canonical JSON')
    .action(async (deltaFile: string, opts: ApplyOpts) => {
      const expected = opts.expectSha256?.toLowerCase();
      if (expected !== undefined && !/^[0-9a-f]{64}$/.test(expected)) throw new UsageError(`--expect-sha256 takes 64 hex digits, not '${opts.expectSha256}'`);
      const lib = await deltaLib();
      const bytes = await readWholeFile(deltaFile, 'delta');
      const wrapper = (() => {
        try {
          return lib.unwrapDelta(bytes).kind;
        } catch (err) {
          throw ioError(err, deltaFile);
        }
      })();
      let source: Uint8Array | null = null;
      let sourceName: string | null = null;
      if (wrapper === 'dcm' && opts.source === undefined) {
        const base = await loadBaseManifest(opts);
        if (!base) throw new UsageError(NEEDS_BASE_MANIFEST, { file: deltaFile });
        source = base.bytes;
        sourceName = base.from;
      } else {
        if (opts.baseManifest !== undefined || opts.wcp !== undefined) {
          if (wrapper !== 'dcm') throw new UsageError('--base-manifest and --wcp are for DCM manifests; use --source for other deltas');
          throw new UsageError('give --source or a base manifest (--base-manifest/--wcp), not both');
        }
        if (opts.source !== undefined) {
          source = await readWholeFile(opts.source, 'source');
          sourceName = opts.source;
        }
      }
      let result;
      try {
        result = lib.applyDelta(bytes, source, { checkHash: opts.hashCheck });
      } catch (err) {
        const e = ioError(err, deltaFile);
        throw wrapper === 'dcm' && sourceName !== null ? blameBase(e, sourceName) : e;
      }
      if (expected !== undefined) {
        const actual = createHash('sha256').update(result.target).digest('hex');
        if (actual !== expected) {
          throw new MismatchError('E_DELTA_EXPECTED_SHA256', `target SHA-256 is ${actual}, --expect-sha256 says ${expected} (wrong source, or a corrupt delta); nothing written`, { file: deltaFile });
        }
      }
      // named as given: its errors name the file as the user did (the temp name beside it is resolved)
      await writeFileAtomic(opts.output, result.target, { replace: opts.overwrite === true, hint: 'pass --overwrite to replace it' });
      const h = result.header;
      const hashState = h.hashAlgId === 0 ? 'none in the delta' : opts.hashCheck ? 'checked' : 'NOT checked (--no-hash-check)';
      const unverified = expected === undefined && !result.hashChecked;
      if (opts.json) {
        ctx.printJson({
          delta: shownPath(deltaFile),
          wrapper,
          format: h.format,
          source: sourceName === null || sourceName === 'MSU_BASE_MANIFEST' ? sourceName : shownPath(sourceName),
          output: shownPath(opts.output),
          targetSize: result.target.length,
          hashAlgorithm: h.hashAlgName,
          targetHash: h.targetHash,
          hashChecked: result.hashChecked,
          hashCheckSkipped: !opts.hashCheck && h.hashAlgId !== 0,
          sha256Checked: expected !== undefined,
        });
      } else {
        ctx.print(
          [
            `delta       ${deltaFile} (${h.format}${wrapper === 'none' ? '' : `, ${wrapper} wrapper`})`,
            `source      ${sourceName ?? '(empty)'}`,
            `target      ${opts.output}, ${result.target.length} bytes`,
            `hash        ${h.hashAlgName}${h.targetHash ? ` ${h.targetHash}` : ''}: ${hashState}`,
            ...(expected !== undefined ? [`sha256      ${expected}: checked (--expect-sha256)`] : []),
          ].join('\n'),
        );
      }
      if (unverified && h.hashAlgId === 0) {
        ctx.warn(`${opts.output}: the delta carries no target hash, so a wrong --source goes unnoticed; pass --expect-sha256 to check the result`);
      }
      if (!opts.hashCheck && h.hashAlgId !== 0) ctx.warn(`${opts.output}: written without checking its ${h.hashAlgName} hash (--no-hash-check)`);
    });
}
