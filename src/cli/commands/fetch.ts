import path from 'node:path';
import type { Command } from 'commander';
import { IoError, MismatchError, UsageError } from '../../errors.js';
import type { DownloadItem } from '../../util/download.js';
import type { CliContext } from '../context.js';

// Loaded when the command runs, not at CLI start (see inspect.ts).
const scancabLib = () => import('../../scancab/index.js');
const downloadLib = () => import('../../util/download.js');
const jsonLib = () => import('../../util/json.js');

interface FetchOpts {
  rules?: string;
  dir: string;
  jobs: string;
  timeout: string;
  cacheDir?: string;
  json?: boolean;
}

export function register(program: Command, ctx: CliContext): void {
  program
    .command('fetch')
    .description('download the payloads that a scan cabinet and rules select (or a download list), each verified by SHA-1')
    .argument('<source>', 'an offline-scan cabinet (with --rules), or a download list LIST.json')
    .option('--rules <file>', 'rules file selecting the updates (required with a scan cabinet; docs/scancab.md)')
    .requiredOption('-d, --dir <dir>', 'directory to download into (created when missing)')
    .option('--jobs <n>', 'parallel downloads', '4')
    .option('--timeout <seconds>', 'abort an attempt after this long without data', '30')
    .option('--cache-dir <dir>', 'where the scan cabinet index is cached (see msu scancab)')
    .option('--json', 'print the result as JSON')
    .action(async (source: string, opts: FetchOpts) => {
      const jobs = Number(opts.jobs), timeout = Number(opts.timeout);
      if (!Number.isInteger(jobs) || jobs < 1 || jobs > 64) throw new UsageError('--jobs must be a whole number from 1 to 64');
      if (!(timeout >= 1 && timeout <= 3600)) throw new UsageError('--timeout must be a number of seconds from 1 to 3600');
      const dl = await downloadLib();
      const { readJsonFile } = await jsonLib();
      let items: DownloadItem[];
      const notes: string[] = [];
      if (source.toLowerCase().endsWith('.json')) {
        if (opts.rules) throw new UsageError('--rules applies to a scan cabinet, not to a download list');
        items = dl.parseDownloadList(await readJsonFile(source, 'E_FETCH_LIST', 'download list'), source);
      } else {
        if (!opts.rules) throw new UsageError('a scan cabinet needs --rules to say which updates to fetch');
        const lib = await scancabLib();
        const rules = lib.parseScanRules(await readJsonFile(opts.rules, 'E_RULES', 'rules file'), opts.rules);
        const opened = await lib.openScanIndex(source, {
          cacheDir: opts.cacheDir,
          onProgress: (done, total, name) => ctx.progress(`indexing ${path.basename(source)}: ${done}/${total} ${name}`),
        });
        const q = new lib.ScanQuery(opened.source);
        let sel;
        try {
          sel = lib.downloadsFor(q, lib.applyRules(q, rules));
        } finally {
          opened.close();
        }
        const { files, noUrl } = sel;
        for (const f of noUrl) notes.push(`${f.name} (${f.kb ? `KB${f.kb}` : f.updateId}) has no download URL in the cabinet`);
        items = files;
        dl.validateItems(items, source);
      }
      const results = await dl.downloadAll(items, opts.dir, {
        concurrency: jobs,
        idleTimeoutMs: timeout * 1000,
        onProgress: (bytes, total, done, all) => ctx.progress(`fetch: ${done}/${all} files, ${bytes}${total ? `/${total}` : ''} bytes`),
      });
      for (const n of notes) ctx.warn(n);
      const failed = results.filter((r) => r.status === 'failed');
      if (opts.json) ctx.printJson({ dir: path.basename(path.resolve(opts.dir)), files: results, notes });
      else {
        ctx.print(results.map((r) => `${r.status.padEnd(10)}  ${r.name}${r.error ? `: ${r.error}` : ''}`).join('\n') || '(nothing selected)');
      }
      if (failed.length) {
        // content that is not what the cabinet or list declares (downloaded, or already in DIR)
        const sha = failed.some((f) => f.code === 'E_FETCH_SHA1' || f.code === 'E_FETCH_EXISTS');
        const msg = `${failed.length} of ${results.length} files not fetched`;
        if (sha) throw new MismatchError('E_FETCH_SHA1', msg, { file: opts.dir });
        throw new IoError('E_FETCH', msg, { file: opts.dir });
      }
    });
}
