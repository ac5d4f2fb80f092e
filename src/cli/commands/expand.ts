import path from 'node:path';
import type { Command } from 'commander';
import { EXIT } from '../../errors.js';
import type { CliContext } from '../context.js';
import { percent, showName } from '../../util/display.js';
import { copyProgress } from './inspect.js';

// Loaded when the command runs, not at CLI start (see inspect.ts).
const expandModule = () => import('../../expand/index.js');

/** A name for output: the user's path reduced to its base name (no machine paths), members kept. */
function shown(s: string): string {
  const bang = s.indexOf('!');
  return bang < 0 ? path.basename(s) : `${path.basename(s.slice(0, bang))}${s.slice(bang)}`;
}

export function register(program: Command, ctx: CliContext): void {
  program
    .command('expand')
    .description('rebuild the files of an express package (.psf + express.psf.cix.xml): RAW ranges, PA30/PA31 deltas, copies; every hash checked; damaged input writes nothing, files the delta engine cannot build yet are listed (non-zero exit) and the rest written')
    .argument('<package>', 'a folder holding the .psf and its cix, the cix itself, a cabinet, or a cabinet- or WIM-based .msu')
    .requiredOption('-d, --dest <dir>', 'target directory (created if needed)')
    .option('--basis-dir <dir>', 'folder where Basis files the index knows only by length and hash are looked up')
    .option('--cab <out.cab>', 'also write the expanded package as this cabinet')
    .option('--overwrite', 'replace regular files of the same name already in the target')
    .option('--json', 'print the report as canonical JSON')
    .action(async (pkg: string, opts: { dest: string; basisDir?: string; cab?: string; overwrite?: boolean; json?: boolean }) => {
      const { expandPackage } = await expandModule();
      const report = await expandPackage(pkg, opts.dest, {
        basisDir: opts.basisDir,
        cab: opts.cab,
        overwrite: opts.overwrite === true,
        onProgress: (done, total, name) => ctx.progress(`expanding ${percent(done, total)} ${showName(name)}`),
        onCopyProgress: copyProgress(ctx),
      });
      const out = { ...report, cix: shown(report.cix), psf: report.psf === null ? null : shown(report.psf), ...(report.cab ? { cab: { ...report.cab, file: path.basename(report.cab.file) } } : {}) };
      if (opts.json) ctx.printJson(out);
      else {
        const lines = [`expanded ${report.expanded.length} of ${report.files} file(s), ${report.bytes} bytes into ${opts.dest}`];
        for (const n of report.notExpanded) lines.push(`not expanded: ${showName(n.name)} (File ${n.id}): ${n.reason}`);
        if (report.cab && 'members' in report.cab) lines.push(`wrote ${opts.cab} (${report.cab.members} members)`);
        if (report.cab && 'skipped' in report.cab) lines.push(`did not write ${opts.cab}: ${report.cab.skipped}`);
        ctx.print(lines.join('\n'));
      }
      if (report.notExpanded.length > 0) {
        ctx.exitCode = report.notExpanded.some((n) => n.kind === 'input') ? EXIT.input : EXIT.unsupported;
      }
    });
}
