import path from 'node:path';
import type { Command } from 'commander';
import type { InspectReport, MemberCopyProgress, PackageSummary } from '../../msu/inspect.js';
import type { CliContext } from '../context.js';
import { percent, showName } from '../../util/display.js';

// Library code is imported when a command runs, not when the CLI starts: every
// `msu` call registers all commands, and `inspect`/`list`/`extract` are timed
// against cabextract.
const msuInspect = () => import('../../msu/inspect.js');
const msuExtract = () => import('../../msu/extract.js');

function human(n: number): string {
  if (n < 1024) return `${n} B`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  let v = n / 1024, i = 0;
  while (v >= 1024 && i < units.length - 1) { v /= 1024; i++; }
  return `${v.toFixed(1)} ${units[i]}`;
}

function describePackage(p: PackageSummary): string[] {
  const out = [`package ${p.member === '.' ? '' : `(${p.member}) `}${p.identity || '(no identity)'}`];
  if (p.note) out.push(`  note: ${p.note}`);
  if (p.identity) {
    out.push(`  class: ${p.class} (${p.classReason})`);
    if (p.kb) out.push(`  KB: ${p.kb}`);
    if (p.releaseType) out.push(`  release type: ${p.releaseType}`);
    if (p.restart) out.push(`  restart: ${p.restart}`);
    if (p.psfx) out.push(`  PSFX: ${Object.entries(p.psfx).map(([k, v]) => `${k}=${v}`).join(' ')}`);
    for (const a of p.appliesTo) {
      const cmp = ['buildCompare', 'serviceCompare', 'revisionCompare', 'distributionCompare']
        .filter((k) => (a as unknown as Record<string, string>)[k]).map((k) => `${k.replace('Compare', '')} ${(a as unknown as Record<string, string>)[k]}`);
      out.push(`  applies to: ${a.identity}${cmp.length ? ` (${cmp.join(', ')})` : ''}`);
    }
  }
  out.push(`  express/PSF: ${p.express ? 'yes' : 'no'}; compression: ${p.compression.join(', ') || '-'}`);
  const c = p.counts;
  out.push(`  files: ${c.files} (${c.mum} .mum, ${c.manifests} .manifest, ${c.catalogs} .cat, ${c.cix} cix, ${c.other} other)`);
  return out;
}

export function formatInspect(r: InspectReport): string {
  const lines = [
    `${r.file}: ${r.container === 'cab-msu' ? 'MSU (cabinet)' : r.container === 'wim-msu' ? 'MSU (WIM)' : r.container === 'wim-package' ? 'CBS package (WIM)' : 'CAB package'}, ${human(r.size)}`,
  ];
  if (r.kb) lines.push(`KB: ${r.kb}`);
  lines.push(`servicing stack update included: ${r.ssu.present ? `yes (${r.ssu.members.join(', ')})` : 'no'}`);
  if (r.container !== 'cab') {
    lines.push('members:');
    for (const m of r.members) lines.push(`  ${m.name}  ${human(m.size)}  ${m.role}${m.compression ? `  ${m.compression}` : ''}`);
  }
  for (const p of r.packages) lines.push(...describePackage(p));
  for (const w of r.warnings) lines.push(`warning: ${w}`);
  // member names, identities and warnings come from the file: no line may carry a control character
  return lines.map(showName).join('\n');
}

/** The progress line while a WIM-based MSU's payload .wim is copied for wimlib-imagex (inspect, deltas). */
export function copyProgress(ctx: CliContext): (p: MemberCopyProgress) => void {
  return (p) => ctx.progress(`copying ${showName(p.member)} for wimlib-imagex ${percent(p.done, p.total)}`);
}

export function register(program: Command, ctx: CliContext): void {
  program
    .command('inspect')
    .description('what is inside an .msu or .cab update package, from its headers (no extraction)')
    .argument('<file>', 'the .msu or .cab file')
    .option('--json', 'print the report as JSON (schema: docs/inspect-json.md)')
    .action(async (file: string, opts: { json?: boolean }) => {
      const { inspectFile } = await msuInspect();
      const report = await inspectFile(file, { onProgress: copyProgress(ctx) });
      if (opts.json) ctx.printJson(report);
      else ctx.print(formatInspect(report));
    });

  program
    .command('list')
    .description('list the members of a cabinet (.cab or cabinet-based .msu)')
    .argument('<file>', 'the cabinet')
    .option('--inner <member>', 'list a cabinet inside it instead (e.g. the payload cab of an MSU), or the payload .wim of a WIM-based MSU')
    .option('--json', 'print the listing as JSON')
    .action(async (file: string, opts: { inner?: string; json?: boolean }) => {
      const { listCabinet } = await msuExtract();
      const members = await listCabinet(file, opts.inner);
      if (opts.json) ctx.printJson({ file: path.basename(file), inner: opts.inner ?? null, members });
      else ctx.print(members.map((m) => `${String(m.size).padStart(12)}  ${m.modified ?? '-'.padEnd(19)}  ${m.compression.padEnd(7)}  ${showName(m.name)}`).join('\n') || '(empty)');
    });

  program
    .command('extract')
    .description('extract members of a cabinet into a directory (nothing is written outside it; no partial output on failure)')
    .argument('<file>', 'the cabinet (.cab or cabinet-based .msu)')
    .argument('[members...]', 'member names or globs (default: all)')
    .requiredOption('-d, --dest <dir>', 'target directory (created if needed)')
    .option('--inner <member>', 'extract from a cabinet inside it (e.g. the payload cab of an MSU), or from the payload .wim of a WIM-based MSU')
    .option('--no-checksum', 'skip the CFDATA checksum check (faster; corrupt data is then written)')
    .option('--overwrite', 'replace regular files of the same name already in the target')
    .option('--json', 'print what was extracted as JSON')
    .action(async (file: string, members: string[], opts: { dest: string; inner?: string; checksum: boolean; overwrite?: boolean; json?: boolean }) => {
      const { extractCabinet } = await msuExtract();
      const res = await extractCabinet(file, opts.dest, {
        inner: opts.inner, members, verify: opts.checksum, overwrite: opts.overwrite,
        onProgress: (done, total, name) => ctx.progress(`extracting ${done}/${total} ${showName(name)}`),
      });
      for (const d of res.duplicates) {
        ctx.warn(`${showName(opts.inner ? `${file}!${opts.inner}` : file)}: ${d.count} members are named ${showName(d.name)}; the last one is written`);
      }
      if (opts.json) ctx.printJson({ file: path.basename(file), files: res.files, bytes: res.bytes, duplicates: res.duplicates });
      else ctx.print(`extracted ${res.files.length} file(s), ${human(res.bytes)} into ${opts.dest}`);
    });
}
