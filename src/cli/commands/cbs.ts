import type { Command } from 'commander';
import { FormatError, UsageError, ioError } from '../../errors.js';
import type { CbsFile, CbsFileKind } from '../../cbs/index.js';
import type { CliContext } from '../context.js';
import { blameBase, loadBaseManifest, NEEDS_BASE_MANIFEST } from './delta.js';

// Loaded when the command runs, not at CLI start (see inspect.ts).
const cbsLib = () => import('../../cbs/index.js');
const deltaLib = () => import('../../delta/index.js');
const sourceLib = () => import('../../util/source.js');
type CbsLib = Awaited<ReturnType<typeof cbsLib>>;

// A 24H2 LCU update.mum is a few MB; anything far larger is not a CBS text file.
const MAX_BYTES = 256 * 1024 * 1024;

export function register(program: Command, ctx: CliContext): void {
  program
    .command('cbs')
    .description('parse a CBS file (.mum, component .manifest, update.ses, pkgProperties.txt) and print its model')
    .argument('<file>', 'the file to parse; its kind is detected from content and name')
    .option('--kind <kind>', 'force the kind: mum | manifest | ses | pkgprops')
    .option('--json', 'print the full model as canonical JSON')
    .option('--base-manifest <file>', 'base manifest for DCM-compressed manifests (default: $MSU_BASE_MANIFEST)')
    .option('--wcp <file>', 'wcp.dll of the same servicing build, to take the base manifest from')
    .action(async (file: string, opts: { json?: boolean; kind?: string; baseManifest?: string; wcp?: string }) => {
      const kind = opts.kind as CbsFileKind | undefined;
      if (kind !== undefined && !['mum', 'manifest', 'ses', 'pkgprops'].includes(kind)) {
        throw new UsageError(`--kind must be one of mum, manifest, ses, pkgprops (got ${JSON.stringify(kind)})`);
      }
      let bytes: Uint8Array;
      const { openInput } = await sourceLib();
      let fh: Awaited<ReturnType<typeof openInput>>['fh'] | undefined;
      try {
        const opened = await openInput(file);
        fh = opened.fh;
        if (opened.size > MAX_BYTES) throw new FormatError('E_CBS_TOO_LARGE', `file is ${opened.size} bytes; CBS text files are far smaller (limit ${MAX_BYTES})`, { file });
        bytes = await fh.readFile();
      } catch (err) {
        throw ioError(err, file);
      } finally {
        await fh?.close();
      }
      let decodedFrom: string | undefined;
      const delta = await deltaLib();
      if (delta.isDcmManifest(bytes)) {
        // WinSxS-compressed manifest: a delta against the base manifest of its servicing build.
        const base = await loadBaseManifest(opts);
        if (!base) throw new UsageError(NEEDS_BASE_MANIFEST, { file });
        try {
          bytes = delta.decodeDcmManifest(bytes, base.bytes);
        } catch (err) {
          throw blameBase(ioError(err, file), base.from);
        }
        decodedFrom = base.from;
      } else if (opts.baseManifest !== undefined || opts.wcp !== undefined) {
        await loadBaseManifest(opts); // still reports an unreadable or wrong base file
      }
      const lib = await cbsLib();
      let parsed;
      try {
        parsed = lib.parseCbsFile(bytes, file, kind);
      } catch (err) {
        throw decodedFrom !== undefined ? blameBase(ioError(err, file), decodedFrom) : err;
      }
      if (opts.json) {
        ctx.printJson(parsed);
        return;
      }
      const lines = summarize(parsed, lib);
      if (decodedFrom !== undefined) lines.unshift(`stored      DCM-compressed, decoded with the base manifest from ${decodedFrom}`);
      ctx.print(lines.join('\n'));
    });
}

function summarize(f: CbsFile, { classifyPackage, keyformHashHex }: CbsLib): string[] {
  const out: string[] = [];
  switch (f.kind) {
    case 'mum': {
      const { mum } = f;
      const p = mum.package;
      const c = classifyPackage(mum);
      out.push(`package     ${mum.packageId}`);
      if (p?.identifier) out.push(`identifier  ${p.identifier}`);
      if (p?.releaseType) out.push(`releaseType ${p.releaseType}`);
      out.push(`class       ${c.class} (${c.reason})`);
      if (p?.customInformation) {
        out.push(`custom      ${Object.entries(p.customInformation.attrs).map(([k, v]) => `${k}=${v}`).join(' ')}`);
      }
      for (const par of p?.parents ?? []) {
        const cmp = (['buildCompare', 'serviceCompare', 'revisionCompare', 'distributionCompare'] as const)
          .filter((k) => par[k] !== undefined).map((k) => `${k}=${par[k]}`).join(' ');
        out.push(`parent      ${par.identity.name} ${par.identity.version} ${cmp}`.trimEnd());
      }
      out.push(`updates     ${p?.updates.length ?? 0}`);
      for (const u of p?.updates ?? []) {
        out.push(`  ${u.kind.padEnd(9)} ${u.identity ? `${u.identity.name} ${u.identity.version}` : '-'}  (${u.name})`);
      }
      break;
    }
    case 'manifest': {
      const m = f.manifest;
      out.push(`component   ${m.identity.name} ${m.identity.version} ${m.identity.processorArchitecture} ${m.identity.language || '-'}`);
      out.push(`keyform     ${m.keyform}`);
      out.push(`versionless ${keyformHashHex(m.identity, { versionless: true })}`);
      if (m.deployment) out.push('deployment  yes');
      out.push(`files       ${m.files.length}`);
      for (const fl of m.files) out.push(`  ${fl.name}${fl.hash ? `  ${fl.hash.alg}:${fl.hash.digestHex}` : ''}`);
      out.push(`registry    ${m.registryKeys.length} keys, ${m.registryKeys.reduce((n, k) => n + k.values.length, 0)} values`);
      out.push(`categories  ${m.memberships.map((x) => x.typeName ?? x.id.name).join(', ') || '-'}`);
      out.push(`depends on  ${m.dependencies.length}`);
      for (const d of m.dependencies) out.push(`  ${d.dependencyType ?? '-'} ${d.identity.name} ${d.identity.version}`);
      break;
    }
    case 'ses': {
      const s = f.ses;
      out.push(`operationMode ${s.operationMode ?? '-'}`);
      s.phases.forEach((ph, i) => {
        out.push(`phase ${i + 1}${ph.implicit ? ' (implicit)' : ''}`);
        for (const pk of ph.packages) out.push(`  ${pk.id} -> ${pk.targetState ?? '-'}`);
      });
      break;
    }
    case 'pkgprops': {
      for (const e of f.props.entries) out.push(`${e.key} = ${e.value}`);
      break;
    }
  }
  return out;
}
