import { stat } from 'node:fs/promises';
import type { Command } from 'commander';
import { EXIT, ioError } from '../../errors.js';
import type { DeltaReport } from '../../cbs/chains.js';
import type { DeltaHeader } from '../../delta/header.js';
import type { CliContext } from '../context.js';
import { showName } from '../../util/display.js';
import { copyProgress } from './inspect.js';

// Loaded when a command runs, not at CLI start (see inspect.ts).
const readWholeFile = async (file: string, what: string) => (await import('../../util/source.js')).readWholeFile(file, what);
const msuCix = () => import('../../msu/load-index.js');
const cbsChains = () => import('../../cbs/chains.js');
const cbsDeltaHeader = () => import('../../delta/header.js');

export function register(program: Command, ctx: CliContext): void {
  program
    .command('deltas')
    .description('analyse a ContainerIndex (_manifest_.cix.xml, *.psf.cix.xml): sources, Basis chains, external bases, problems')
    .argument('<file>', 'the cix XML file, or a .cab/.msu that contains one')
    .option('--psf <psf>', 'the PSF the cix indexes, to check Source ranges against its size')
    .option('--json', 'print the full report as canonical JSON')
    .action(async (file: string, opts: { psf?: string; json?: boolean }) => {
      const { loadContainerIndex } = await msuCix();
      const loaded = await loadContainerIndex(file, { onProgress: copyProgress(ctx) });
      const cix = loaded.cix;
      let psfSize: number | undefined = loaded.psfSize;
      if (opts.psf !== undefined) {
        try {
          psfSize = (await stat(opts.psf)).size;
        } catch (err) {
          throw ioError(err, opts.psf);
        }
      }
      const { analyzeDeltas, describeProblem } = await cbsChains();
      const report = analyzeDeltas(cix, psfSize === undefined ? {} : { psfSize });
      if (opts.json) ctx.printJson(report);
      else ctx.print(summarize(report, describeProblem).join('\n'));
      // Problems are findings about the input, not a failure to read it.
      if (report.problems.length > 0) ctx.exitCode = EXIT.mismatch;
    });

  program
    .command('delta-header')
    .description('print the header of a PA30/PA31/PA19 delta (target size and hash, file type, transforms)')
    .argument('<file>', 'the delta file (optionally with a 4-byte CRC32 prefix)')
    .option('--json', 'print the header as canonical JSON')
    .action(async (file: string, opts: { json?: boolean }) => {
      const { parseDeltaHeader } = await cbsDeltaHeader();
      const header = parseDeltaHeader(await readWholeFile(file, 'delta'), file);
      if (opts.json) ctx.printJson(header);
      else ctx.print(describeHeader(header).join('\n'));
      if (header.crcOk === false) {
        ctx.warn(`${file}: CRC32 prefix ${header.crcPrefix} does not match the delta`);
        ctx.exitCode = EXIT.mismatch;
      }
    });
}

function summarize(r: DeltaReport, describeProblem: Awaited<ReturnType<typeof cbsChains>>['describeProblem']): string[] {
  const c = r.container;
  const out: string[] = [];
  out.push(`container   ${showName(c.name) || '-'} (${c.type || '?'}${c.version ? ` v${c.version}` : ''}${c.length !== undefined ? `, ${c.length} bytes` : ''})`);
  out.push(`files       ${r.fileCount}`);
  for (const [type, t] of Object.entries(r.sourceTypes)) {
    out.push(`  ${type.padEnd(8)} ${String(t.files).padStart(6)} files, ${t.targetBytes} bytes rebuilt${t.sourceBytes ? ` from ${t.sourceBytes} stored` : ''}`);
  }
  const k = r.kinds;
  out.push(`bases       raw ${k.raw}, baseless ${k.baseless}, chained ${k.file}, external ${k.external}, location ${k.location}, copy ${k.copy}`);
  out.push(`applies     ${r.deltaApplications} delta(s); copies apply none`);
  out.push(`depths      ${Object.entries(r.depths).map(([d, n]) => `${d}:${n}`).join(' ') || '-'} (max ${r.maxDepth})`);
  if (r.sharedRanges) out.push(`shared      ${r.sharedRanges} bytes of PSF streams used by more than one File`);
  out.push(`external    ${r.externalBasisCount} bases needed from the target image`);
  for (const g of r.externalBases) {
    out.push(`  ${showName(g.component) || '(top level)'}`);
    for (const s of g.subfolders) {
      for (const n of s.needs) {
        const what = [n.length !== undefined ? `${n.length} bytes` : '', n.hash ? `${n.hash.alg} ${n.hash.value}` : '', (n.locPath !== undefined ? showName(n.locPath) : undefined) ?? (n.loc !== undefined ? `loc ${n.loc}` : '')]
          .filter(Boolean)
          .join(', ');
        out.push(`    ${s.subfolder ? `${showName(s.subfolder)}\\` : ''}${showName(n.fileName)}  [File ${n.file}]${what ? `  ${what}` : ''}`);
      }
    }
  }
  out.push(`problems    ${r.problems.length || 'none'}`);
  for (const p of r.problems) out.push(`  ${describeProblem(p)}`);
  return out;
}

function describeHeader(h: DeltaHeader): string[] {
  const out: string[] = [`format      ${h.format}`, `size        ${h.size}`];
  if (h.crcPrefix !== undefined) out.push(`crc32       ${h.crcPrefix} (${h.crcOk ? 'ok' : 'MISMATCH'})`);
  if (h.fileTime !== undefined) out.push(`fileTime    ${h.fileTime} (${h.fileTimeIso ?? 'out of range'})`);
  if (h.fileTypeSet !== undefined) out.push(`typeSet     0x${h.fileTypeSet.toString(16)} (${h.fileTypeSetNames!.join(' ')})`);
  if (h.fileType !== undefined) out.push(`fileType    ${h.fileTypeName} (0x${h.fileType.toString(16)})`);
  if (h.flags !== undefined) out.push(`flags       0x${h.flags.toString(16)}${h.flagNames!.length ? ` (${h.flagNames!.join(' ')})` : ''}`);
  if (h.targetSize !== undefined) out.push(`targetSize  ${h.targetSize}`);
  if (h.hashAlgId !== undefined) out.push(`targetHash  ${h.hashAlgName} ${h.targetHash || '-'}`);
  if (h.reverse) out.push('reverse     yes (reversal data)');
  if (h.preprocessSize !== undefined) out.push(`preprocess  ${h.preprocessSize} bytes`);
  if (h.patchSize !== undefined) out.push(`patch       ${h.patchSize} bytes`);
  if (h.applicable) out.push(`apply       ${h.applicable === 'yes' ? 'yes (msu delta apply)' : `unsupported: ${h.applicable} (needs phase 2 of the delta engine)`}`);
  if (h.pa31) out.push(`pa31        extension ${h.pa31.fields.join(' ')}, hash ${h.pa31.extensionHash || '-'}`);
  if (h.pa19) {
    const p = h.pa19;
    out.push(`options     0x${p.options.toString(16)} (${p.optionNames.join(' ') || '-'})`);
    out.push(`targetCrc32 ${p.targetCrc32}`);
    out.push(`inputs      ${p.inputFileCount}`);
  }
  return out;
}
