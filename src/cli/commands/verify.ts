import path from 'node:path';
import type { Command } from 'commander';
import type { CliContext } from '../context.js';
import { percent, showName } from '../../util/display.js';
import { loadBaseManifest } from './delta.js';

// Loaded when the command runs, not at CLI start (see inspect.ts).
const verifyLib = () => import('../../verify/index.js');

interface VerifyOpts {
  json?: boolean;
  allowUnchecked?: boolean;
  baseManifest?: string;
  wcp?: string;
}

export function register(program: Command, ctx: CliContext): void {
  program
    .command('verify')
    .description('check every hash an .msu/.cab/WIM package declares: verified, mismatch or not checked (with the reason); exit 1 on a mismatch, 8 when something could not be checked')
    .argument('<package>', 'the .msu, .cab, or WIM/ESD holding a CBS package')
    .option('--base-manifest <file>', 'base manifest for DCM-compressed component manifests (default: $MSU_BASE_MANIFEST, else wcp.dll in the package)')
    .option('--wcp <file>', 'wcp.dll of the same servicing build, to take the base manifest from')
    .option('--allow-unchecked', 'exit 0 when nothing mismatched, even if some checks could not be made')
    .option('--json', 'print the report as canonical JSON, every check listed')
    .action(async (file: string, opts: VerifyOpts) => {
      // The same resolution as msu cbs and msu delta apply (one helper).
      const base = await loadBaseManifest(opts);
      const { formatVerifyReport, verifyExitCode, verifyPackage } = await verifyLib();
      let shown = '';
      const r = await verifyPackage(file, {
        ...(base ? { baseManifest: base.bytes } : {}),
        onProgress: ({ member, step, done, total }) => {
          const pct = percent(done, total);
          const what = step === 'decode' ? `decoding ${pct}` : step === 'copy' ? `copying for wimlib-imagex ${pct}` : step === 'check' ? 'checking hashes' : `wimlib-imagex${total ? ` ${pct}` : ''}`;
          const text = `verifying ${showName(member === '.' ? path.basename(file) : member)}: ${what}`;
          // a new member or step shows at once (progress() skips updates within 100 ms of the last)
          const key = `${member}\0${step}`;
          if (ctx.live && key !== shown) ctx.event(text);
          else ctx.progress(text);
          shown = key;
        },
      });
      ctx.exitCode = verifyExitCode(r, { allowUnchecked: opts.allowUnchecked });
      if (opts.json) ctx.printJson(r);
      // member names come from the package: no line may carry a control character (src/util/display.ts)
      else ctx.print(formatVerifyReport(r).split('\n').map(showName).join('\n'));
    });
}
