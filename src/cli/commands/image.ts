import type { Command } from 'commander';
import { UsageError } from '../../errors.js';
import type { InventoryImage, WimInfo } from '../../wim/index.js';
import type { CliContext } from '../context.js';
import { shownPath } from '../paths.js';

// Loaded when a command runs, not at CLI start (see inspect.ts).
const wimInventory = () => import('../../wim/inventory.js');
const wimlib = () => import('../../wim/wimlib.js');

function parseIndex(v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  if (!/^[1-9][0-9]{0,5}$/.test(v)) throw new UsageError(`--index must be an image number from 1 (got ${JSON.stringify(v)})`);
  return Number(v);
}

export function register(program: Command, ctx: CliContext): void {
  program
    .command('image')
    .description('inventory of a Windows image in a WIM: edition, version with UBR, languages, installed packages, third-party drivers')
    .argument('<file>', 'the .wim (install.wim, boot.wim) to read; nothing is extracted except package manifests and oem*.inf')
    .option('--index <n>', 'only this image (1-based)')
    .option('--json', 'print the inventory as canonical JSON')
    .action(async (file: string, opts: { index?: string; json?: boolean }) => {
      const index = parseIndex(opts.index);
      const { imageInventory } = await wimInventory();
      const inv = await imageInventory(file, index, {
        onImage: (i, n) => ctx.progress(`reading image ${i} of ${n}`),
        onProgress: (p) => ctx.progress(`${p.phase}: ${p.percent}%`),
      });
      for (const img of inv.images) for (const w of img.warnings) ctx.warn(`${file}: ${w}`);
      if (opts.json) {
        ctx.printJson({ ...inv, file: shownPath(inv.file) });
        return;
      }
      const out = [`file         ${file} (${inv.imageCount} image${inv.imageCount === 1 ? '' : 's'})`];
      for (const img of inv.images) out.push(...describeImage(img));
      ctx.print(out.join('\n'));
    });

  const wim = program.command('wim').description('WIM archive facts (wimlib-imagex)');
  wim
    .command('info')
    .description('header and per-image XML facts of a WIM (no image metadata is read)')
    .argument('<file>', 'the .wim or .esd')
    .option('--json', 'print canonical JSON')
    .action(async (file: string, opts: { json?: boolean }) => {
      const { wimInfo } = await wimlib();
      const info = await wimInfo(file);
      if (opts.json) {
        ctx.printJson({ ...info, file: shownPath(info.file) });
        return;
      }
      ctx.print(describeWim(info).join('\n'));
    });
}

function describeImage(img: InventoryImage): string[] {
  const out: string[] = [];
  out.push(`image ${img.index}      ${img.name}`);
  if (img.edition || img.installationType) out.push(`  edition    ${[img.edition, img.installationType && `(${img.installationType})`].filter(Boolean).join(' ')}`);
  out.push(`  arch       ${img.arch}`);
  const from =
    img.versionSource === 'packages' ? ` (UBR from installed packages; image XML says ${img.xmlVersion ?? 'nothing'})`
    : img.versionSource === 'xml-without-ubr' ? ' (UBR unknown)'
    : '';
  out.push(`  version    ${img.version ?? 'unknown'}${from}`);
  if (img.languages.length) out.push(`  languages  ${img.languages.join(' ')}${img.defaultLanguage ? ` (default ${img.defaultLanguage})` : ''}`);
  if (img.foundationVersion) out.push(`  foundation ${img.foundationVersion}`);
  if (img.rollupFixVersion) out.push(`  rollupfix  ${img.rollupFixVersion}`);
  if (img.servicingStackVersion) out.push(`  ssu        ${img.servicingStackVersion}`);
  out.push(`  packages   ${img.packages.length}`);
  for (const p of img.packages) out.push(`    ${p.packageId}${p.releaseType ? `  [${p.releaseType}]` : ''}`);
  out.push(`  drivers    ${img.drivers.length}`);
  for (const d of img.drivers) out.push(`    ${[d.inf, d.class ?? '-', d.provider ?? '-', d.driverVer ?? '-'].join('  ')}`);
  out.push(`  driverstore ${img.driverStore.length}`);
  for (const d of img.driverStore) out.push(`    ${d}`);
  return out;
}

function describeWim(info: WimInfo): string[] {
  const out = [
    `file         ${info.file}`,
    `size         ${info.size}`,
    `images       ${info.imageCount}`,
    `compression  ${info.compression ?? 'unknown'}${info.chunkSize ? ` (chunk ${info.chunkSize})` : ''}`,
    `boot index   ${info.bootIndex ?? 0}`,
  ];
  if (info.totalParts && info.totalParts > 1) out.push(`part         ${info.partNumber}/${info.totalParts}`);
  for (const img of info.images) {
    const bits = [img.arch, img.edition, img.installationType, img.version, img.languages.join(',') || undefined].filter(Boolean);
    out.push(`image ${img.index}      ${img.name}  ${bits.join('  ')}`.trimEnd());
  }
  return out;
}
