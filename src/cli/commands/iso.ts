import type { Command } from 'commander';
import type { IsoBootInfo } from '../../iso/index.js';
import { UsageError } from '../../errors.js';
import type { CliContext } from '../context.js';
import { shownPath } from '../paths.js';
import { showName } from '../../util/display.js';

// Loaded when a command runs, not at CLI start (see inspect.ts).
const wimIso = () => import('../../iso/iso.js');

export function register(program: Command, ctx: CliContext): void {
  const iso = program.command('iso').description('ISO images (xorriso): list, extract, boot catalog, rebuild a BIOS+UEFI bootable ISO');
  const progress = (p: { percent?: number; line: string }): void => ctx.progress(p.percent !== undefined ? `${p.percent}%` : p.line);

  iso
    .command('list')
    .description('every file and directory in the ISO')
    .argument('<iso>', 'the ISO image')
    .option('--json', 'print canonical JSON')
    .action(async (file: string, opts: { json?: boolean }) => {
      const { isoList } = await wimIso();
      const entries = await isoList(file);
      if (opts.json) return ctx.printJson(entries);
      ctx.print(entries.map((e) => (e.type === 'dir' ? `${'dir'.padStart(12)}  ${showName(e.path)}/` : `${String(e.size).padStart(12)}  ${showName(e.path)}`)).join('\n') || '(empty)');
    });

  iso
    .command('extract')
    .description('extract the whole ISO tree into a directory (nothing is left behind on failure)')
    .argument('<iso>', 'the ISO image')
    .argument('<dir>', 'destination directory (created if needed)')
    .option('--overwrite', 'replace regular files of the same name already in the target')
    .option('--json', 'print the extracted files as canonical JSON')
    .action(async (file: string, dir: string, opts: { overwrite?: boolean; json?: boolean }) => {
      const { isoExtract } = await wimIso();
      const files = await isoExtract(file, dir, { onProgress: progress, overwrite: opts.overwrite });
      if (opts.json) return ctx.printJson({ files: [...files].sort() });
      ctx.print(`extracted ${files.length} file${files.length === 1 ? '' : 's'}`);
    });

  iso
    .command('info')
    .description('volume id and El Torito boot entries')
    .argument('<iso>', 'the ISO image')
    .option('--json', 'print canonical JSON')
    .action(async (file: string, opts: { json?: boolean }) => {
      const { isoBootInfo } = await wimIso();
      const info = await isoBootInfo(file);
      if (opts.json) return ctx.printJson({ ...info, file: shownPath(info.file) });
      ctx.print(describeBoot(info).join('\n'));
    });

  iso
    .command('rebuild')
    .description('build a BIOS+UEFI bootable ISO (El Torito, ISO 9660 level 3 + Joliet) from a directory')
    .argument('<dir>', 'the media tree (e.g. from `msu iso extract`)')
    .argument('<out>', 'the ISO to write (written under a temp name, then renamed)')
    .option('--volid <id>', 'volume id (default: that of --like, else ISOIMAGE)')
    .option('--bios-boot <path>', 'BIOS boot image inside dir', 'boot/etfsboot.com')
    .option('--efi-boot <path>', 'UEFI boot image inside dir', 'efi/microsoft/boot/efisys.bin')
    .option('--like <iso>', 'copy the boot catalog setup of this ISO instead')
    .option('--split-wim [mib]', 'split sources/install.wim into install.swm parts of at most MIB MiB (default 3800) when larger, so no file needs UDF or a second extent')
    .option('--overwrite', 'replace OUT when it exists (default: refuse)')
    .option('--json', 'print the boot info of the new ISO as canonical JSON')
    .action(async (dir: string, out: string, opts: { volid?: string; biosBoot: string; efiBoot: string; like?: string; splitWim?: string | boolean; overwrite?: boolean; json?: boolean }, cmd: Command) => {
      // --like takes the boot images from the other ISO's catalog; a boot path given as well would be ignored
      const given = ['biosBoot', 'efiBoot'].filter((k) => cmd.getOptionValueSource(k) === 'cli');
      if (opts.like !== undefined && given.length) throw new UsageError(`--like copies the boot setup of ${opts.like}; drop ${given.map((k) => (k === 'biosBoot' ? '--bios-boot' : '--efi-boot')).join(' and ')}`);
      const { isoRebuild, largeInstallWim, DEFAULT_SPLIT_MIB } = await wimIso();
      let splitWimMiB: number | undefined;
      if (opts.splitWim !== undefined) {
        splitWimMiB = opts.splitWim === true ? DEFAULT_SPLIT_MIB : Number(opts.splitWim);
        if (!Number.isInteger(splitWimMiB) || splitWimMiB < 1 || splitWimMiB > 4095) throw new UsageError(`--split-wim ${JSON.stringify(opts.splitWim)}: expected a part size in MiB, 1..4095`);
      } else {
        const big = await largeInstallWim(dir);
        if (big) ctx.warn(`${big.path} is ${big.size} bytes: stored in several ISO 9660 extents, which Windows Setup reading the disc without UDF is not known to accept; --split-wim writes install.swm parts instead`);
      }
      const info = await isoRebuild(dir, out, {
        biosBoot: opts.biosBoot,
        efiBoot: opts.efiBoot,
        ...(opts.volid !== undefined ? { volid: opts.volid } : {}),
        ...(opts.like !== undefined ? { likeIso: opts.like } : {}),
        ...(splitWimMiB !== undefined ? { splitWimMiB } : {}),
        onProgress: progress,
        onWarning: (m) => ctx.warn(`${out}: ${m}`),
        overwrite: opts.overwrite === true,
      });
      if (opts.json) return ctx.printJson({ ...info, file: shownPath(info.file) });
      ctx.print(describeBoot(info).join('\n'));
    });
}

function describeBoot(info: IsoBootInfo): string[] {
  const out = [`file       ${info.file}`, `volume id  ${info.volumeId ?? '(none)'}`];
  if (info.entries.length === 0) out.push('boot       no El Torito boot catalog');
  for (const e of info.entries) {
    out.push(`boot ${e.n}     ${e.platform} ${e.bootable ? 'bootable' : 'not bootable'} emulation=${e.emulation} load-size=${e.loadSize} lba=${e.lba}${e.path ? ` ${e.path}` : ` (not a file in the tree${e.blocks !== undefined ? `, ${e.blocks} blocks` : ''})`}`);
  }
  for (const l of info.systemArea) out.push(`system area ${l}`);
  return out;
}
