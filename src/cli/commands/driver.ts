import type { Command } from 'commander';
import { EXIT, UsageError } from '../../errors.js';
import type { DriverCheckReport } from '../../drivers/package.js';
import type { WindowsArch } from '../../wim/types.js';
import type { CliContext } from '../context.js';
import { shownPath } from '../paths.js';

// Loaded when a command runs, not at CLI start (see inspect.ts).
const driverDevices = () => import('../../drivers/devices.js');
const driverPackage = () => import('../../drivers/package.js');
const wimlib = () => import('../../wim/wimlib.js');

const ARCHS = ['x86', 'amd64', 'arm64'] as const;

interface CheckOpts {
  arch?: string;
  device?: string;
  disableLegacy?: boolean;
  image?: string;
  index?: string;
  json?: boolean;
}

export function register(program: Command, ctx: CliContext): void {
  const driver = program.command('driver').description('check Windows driver packages offline (INF, catalog, files, QEMU device IDs)');

  driver
    .command('check')
    .description('check a driver package folder (or one .inf) for problems that would stop it loading in the VM')
    .argument('<dir>', 'driver package folder, searched recursively for .inf files')
    .option('--arch <arch>', 'target architecture: amd64 | x86 | arm64')
    .option('--device <name>', 'QEMU -device name the driver must bind, e.g. virtio-sound-pci (see: msu driver devices)')
    .option('--disable-legacy', 'the device is modern-only (QEMU disable-legacy=on, or behind a PCIe port)')
    .option('--image <wim>', 'take the target architecture from this install.wim / boot.wim image')
    .option('--index <n>', 'image index in --image (default 1 when the WIM has a single image)')
    .option('--json', 'print the report as canonical JSON')
    .action(async (dir: string, opts: CheckOpts) => {
      let arch: WindowsArch | undefined;
      if (opts.arch !== undefined) {
        if (!(ARCHS as readonly string[]).includes(opts.arch)) throw new UsageError(`--arch must be one of ${ARCHS.join(', ')} (got ${JSON.stringify(opts.arch)})`);
        arch = opts.arch as WindowsArch;
      }
      if (opts.index !== undefined && opts.image === undefined) throw new UsageError('--index needs --image');
      if (opts.image !== undefined) {
        const imageArch = await archOfImage(opts.image, opts.index);
        if (arch !== undefined && arch !== imageArch) {
          throw new UsageError(`--arch ${arch} contradicts image ${opts.image}, which is ${imageArch}`);
        }
        arch = imageArch;
      }
      const { checkDriverPackage } = await driverPackage();
      const report = await checkDriverPackage(dir, {
        ...(arch ? { arch } : {}),
        ...(opts.device !== undefined ? { device: opts.device } : {}),
        ...(opts.disableLegacy ? { disableLegacy: true } : {}),
      });
      if (opts.json) ctx.printJson({ ...report, dir: shownPath(report.dir) });
      else ctx.print(formatReport(report).join('\n'));
      if (report.errors > 0) ctx.exitCode = EXIT.mismatch;
    });

  driver
    .command('devices')
    .description('list the QEMU devices known to the checker and the Windows hardware IDs they expose')
    .option('--json', 'print the table as canonical JSON')
    .action(async (opts: { json?: boolean }) => {
      const { allExposedIds, QEMU_DEVICES } = await driverDevices();
      const rows = QEMU_DEVICES.map((d) => ({
        name: d.name,
        aliases: d.aliases,
        description: d.description,
        modernOnly: d.modernOnly,
        ...(d.virtioId !== undefined ? { virtioId: d.virtioId } : {}),
        ...(d.minQemu ? { minQemu: d.minQemu } : {}),
        ...(d.note ? { note: d.note } : {}),
        identities: allExposedIds(d).map((x) => ({ transitional: x.transitional, hardwareIds: x.hardwareIds, compatibleIds: x.compatibleIds })),
      }));
      if (opts.json) {
        ctx.printJson(rows);
        return;
      }
      const out: string[] = [];
      for (const r of rows) {
        const flags = [r.modernOnly ? 'modern-only' : 'transitional by default', r.minQemu ? `QEMU >= ${r.minQemu}` : ''].filter(Boolean).join(', ');
        out.push(`${r.name}${r.aliases.length ? ` (also ${r.aliases.join(', ')})` : ''}: ${r.description} [${flags}]`);
        for (const x of r.identities) {
          out.push(`  ${r.identities.length > 1 ? (x.transitional ? 'transitional ' : 'modern       ') : ''}${x.hardwareIds[0]}  ${x.hardwareIds[3]}`);
        }
      }
      ctx.print(out.join('\n'));
    });
}

async function archOfImage(image: string, index: string | undefined): Promise<WindowsArch> {
  const { wimInfo } = await wimlib();
  const info = await wimInfo(image);
  let n: number;
  if (index === undefined) {
    if (info.images.length !== 1) throw new UsageError(`${image} has ${info.images.length} images; choose one with --index`);
    n = info.images[0]!.index;
  } else {
    n = Number(index);
    if (!Number.isInteger(n) || n < 1) throw new UsageError(`--index must be a positive integer (got ${JSON.stringify(index)})`);
  }
  const img = info.images.find((i) => i.index === n);
  if (!img) throw new UsageError(`${image} has no image ${n} (it has ${info.images.length})`);
  if (img.arch === 'unknown') throw new UsageError(`image ${n} of ${image} does not record its architecture; pass --arch`);
  return img.arch;
}

function formatReport(r: DriverCheckReport): string[] {
  const out: string[] = [];
  const ctxText = [r.arch ? `arch ${r.arch}` : '', r.device ? `device ${r.device}` : ''].filter(Boolean).join(', ');
  out.push(`package ${r.dir}${ctxText ? ` (${ctxText})` : ''}`);
  for (const i of r.infs) {
    const bits = [
      i.isTemplate ? 'template' : '',
      i.class ? `class ${i.class}` : '',
      i.driverVer ? `DriverVer ${i.driverVer}` : '',
      i.catalog ? `catalog ${i.catalog}` : 'no catalog',
      i.archs.length ? `archs ${i.archs.join(',')}` : '',
      i.bootCritical ? 'boot-critical' : '',
    ].filter(Boolean);
    out.push(`inf ${i.file}: ${bits.join(', ')}`);
    for (const id of i.hardwareIds) out.push(`  id ${id}`);
    for (const s of i.services) out.push(`  service ${s.name}${s.startType !== undefined ? ` StartType ${s.startType}` : ''}`);
  }
  for (const f of r.findings) {
    const where = f.file ? ` ${f.file}${f.line !== undefined ? `:${f.line}` : ''}` : '';
    out.push(`${f.level.padEnd(7)} ${f.code}${where}: ${f.message}`);
  }
  out.push(`${r.errors} error${r.errors === 1 ? '' : 's'}, ${r.warnings} warning${r.warnings === 1 ? '' : 's'}`);
  return out;
}
