import path from 'node:path';
import type { Command } from 'commander';
import type { RuleDecision, UpdateFilter, UpdateView } from '../../scancab/index.js';
import { UsageError } from '../../errors.js';
import type { CliContext } from '../context.js';
import { showName } from '../../util/display.js';

// Loaded when the command runs, not at CLI start (see inspect.ts); only the modules a query on a
// cached index needs (the cabinet reader is loaded by cache.ts when an index has to be built).
const scancabLib = async () => {
  const [cache, query, rules] = await Promise.all([import('../../scancab/cache.js'), import('../../scancab/query.js'), import('../../scancab/rules.js')]);
  return { ...cache, ...query, ...rules };
};
const jsonLib = () => import('../../util/json.js');

/** Superseding revisions shown per update in a listing (not for --kb/--update). */
const LISTING_CHAIN_LIMIT = 20;

interface ScancabOpts extends UpdateFilter {
  rules?: string;
  cacheDir?: string;
  cache: boolean;
  json?: boolean;
}

function formatView(v: UpdateView, decision?: RuleDecision): string[] {
  const out = [`${v.kb ? `KB${v.kb}` : '(no KB)'}  ${v.updateId}  revision ${v.revisionId}  ${showName(v.title ?? '')}`.trimEnd()];
  if (decision) out.push(`  rules: ${decision.selected ? 'selected' : 'not selected'} (${decision.reason})`);
  out.push(`  type: ${v.updateType ?? '-'}${v.isBundle ? ' (bundle)' : ''}; severity: ${v.msrcSeverity ?? '-'}`);
  if (v.products.length) out.push(`  products: ${v.products.join(', ')}`);
  if (v.classifications.length) out.push(`  classification: ${v.classifications.join(', ')}`);
  for (const s of v.supersededBy) out.push(`  superseded by: ${s.kb ? `KB${s.kb} ` : ''}${s.updateId} (revision ${s.revisionId})`);
  if (v.supersededByTruncated) out.push(`  superseded by: … (the chain goes on; query this update with --kb or --update for all of it)`);
  for (const f of v.payload) out.push(`  file: ${showName(f.name)}  ${f.size ?? '?'} bytes  sha1 ${f.sha1}  ${f.url ? showName(f.url) : '(no URL)'}`);
  return out;
}

export function register(program: Command, ctx: CliContext): void {
  program
    .command('scancab')
    .description('list and query the updates of an offline-scan cabinet (wsusscn2.cab, WSUSSCAN.cab)')
    .argument('<file>', 'the scan cabinet')
    .option('--kb <n>', 'only updates with this KB number')
    .option('--update <guid>', 'only this UpdateId')
    .option('--product <text>', 'only updates whose product name contains this text')
    .option('--classification <text>', 'only updates whose classification name contains this text')
    .option('--superseded', 'include superseded updates (hidden by default)')
    .option('--rules <file>', 'evaluate a rules file (docs/scancab.md) and show what it selects and why')
    .option('--cache-dir <dir>', 'where the built index is cached (default: $MSU_CACHE_DIR/scancab or ~/.cache/msu-toolkit/scancab)')
    .option('--no-cache', 'build the index without reading or writing the cache')
    .option('--json', 'print the result as JSON')
    .action(async (file: string, opts: ScancabOpts) => {
      // a typo here would print an empty listing, as if the cabinet had no such update
      if (opts.kb !== undefined && !/^(KB)?\d{1,10}$/i.test(opts.kb)) throw new UsageError(`--kb takes a KB number (5034441 or KB5034441), not '${opts.kb}'`);
      if (opts.update !== undefined && !/^[0-9a-f]{8}(-[0-9a-f]{4}){3}-[0-9a-f]{12}$/i.test(opts.update)) throw new UsageError(`--update takes an UpdateId (a GUID), not '${opts.update}'`);
      const lib = await scancabLib();
      let rules: import('../../scancab/rules.js').ScanRules | undefined;
      if (opts.rules) {
        const { readJsonFile } = await jsonLib();
        rules = lib.parseScanRules(await readJsonFile(opts.rules, 'E_RULES', 'rules file'), opts.rules);
      }
      const opened = await lib.openScanIndex(file, {
        cacheDir: opts.cache ? opts.cacheDir : null,
        onProgress: (done, total, name) => ctx.progress(`indexing ${path.basename(file)}: ${done}/${total} ${showName(name)}`),
      });
      const ix = opened.meta;
      const q = new lib.ScanQuery(opened.source);
      const chosen = lib.selectUpdates(q, {
        kb: opts.kb, update: opts.update, product: opts.product, classification: opts.classification,
        // the rules decide about superseded updates themselves
        superseded: opts.superseded || Boolean(rules),
      });
      // Views are made and written one at a time: a listing of a full wsusscn2.cab has hundreds
      // of thousands (the decisions, small, come first: the header counts them). A KB or
      // UpdateId names a few updates: their whole chains; a listing shows the nearest ones.
      const chainLimit = opts.kb || opts.update ? Infinity : LISTING_CHAIN_LIMIT;
      try {
        const decisions = rules ? chosen.map((u) => lib.decide(q, rules!, u)) : undefined;
        const views = function* (): Generator<{ view: UpdateView; decision?: RuleDecision }> {
          for (let i = 0; i < chosen.length; i++) yield { view: q.view(chosen[i]!, chainLimit), decision: decisions?.[i] };
        };
        if (opts.json) {
          const { canonicalJsonChunks } = await jsonLib();
          const head = { file: path.basename(file), sha256: ix.sha256, packageId: ix.packageId, form: ix.form, revisions: ix.revisions };
          const items = function* () {
            for (const { view, decision } of views()) yield decision ? { ...view, rules: { selected: decision.selected, reason: decision.reason } } : view;
          };
          await ctx.printChunks(canonicalJsonChunks(head, 'updates', items()));
          return;
        }
        const text = function* (): Generator<string> {
          yield `${path.basename(file)}: offline-scan package ${ix.packageId} (${ix.form === 'multi' ? `${ix.cabinets.length} cabinets` : 'one cabinet'}), ${ix.revisions} revisions; ${chosen.length} shown\n`;
          if (decisions) yield `rules: ${decisions.filter((d) => d.selected).length} selected\n`;
          for (const { view, decision } of views()) yield formatView(view, decision).join('\n') + '\n';
        };
        await ctx.printChunks(text());
      } finally {
        opened.close();
      }
    });
}
