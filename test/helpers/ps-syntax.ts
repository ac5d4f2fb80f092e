import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * PowerShell syntax check without pwsh: the tree-sitter PowerShell grammar (wasm) through
 * web-tree-sitter. Debian has no PowerShell, and this catches unbalanced braces, broken
 * strings and stray tokens in generated scripts.
 */
const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const PS_GRAMMAR_WASM = path.join(ROOT, 'node_modules', 'tree-sitter-powershell', 'tree-sitter-powershell.wasm');
export const hasPsParser = existsSync(PS_GRAMMAR_WASM) && existsSync(path.join(ROOT, 'node_modules', 'web-tree-sitter'));

interface SyntaxNode {
  type: string;
  isMissing: boolean;
  hasError: boolean;
  startPosition: { row: number; column: number };
  text: string;
  childCount: number;
  child(i: number): SyntaxNode | null;
}

interface PsParser {
  parse(src: string): { rootNode: SyntaxNode } | null;
}

let parserPromise: Promise<PsParser> | undefined;

async function getParser(): Promise<PsParser> {
  parserPromise ??= (async () => {
    const { Parser, Language } = await import('web-tree-sitter');
    await Parser.init();
    const lang = await Language.load(PS_GRAMMAR_WASM);
    const parser = new Parser();
    parser.setLanguage(lang);
    return parser as unknown as PsParser;
  })();
  return parserPromise;
}

/** Every ERROR / MISSING node as `row:col type "text"` (1-based rows); empty when the script parses cleanly. */
export async function psSyntaxErrors(src: string): Promise<string[]> {
  const parser = await getParser();
  const tree = parser.parse(src);
  if (!tree) return ['parser returned no tree'];
  const out: string[] = [];
  const walk = (n: SyntaxNode): void => {
    if (n.type === 'ERROR' || n.isMissing) {
      out.push(`${n.startPosition.row + 1}:${n.startPosition.column + 1} ${n.isMissing ? 'MISSING' : 'ERROR'} ${JSON.stringify(n.text.slice(0, 40))}`);
    }
    if (!n.hasError && !n.isMissing) return;
    for (let i = 0; i < n.childCount; i++) {
      const c = n.child(i);
      if (c) walk(c);
    }
  };
  walk(tree.rootNode);
  if (out.length === 0 && tree.rootNode.hasError) out.push('tree has an error flag but no ERROR node');
  return out;
}

/** A parsed PowerShell node (the subset the structure tests use). */
export interface PsNode {
  type: string;
  text: string;
  children: PsNode[];
}

function toPsNode(n: SyntaxNode): PsNode {
  const children: PsNode[] = [];
  for (let i = 0; i < n.childCount; i++) {
    const c = n.child(i);
    if (c) children.push(toPsNode(c));
  }
  return { type: n.type, text: n.text, children };
}

/** The script as a tree (throws when it does not parse cleanly: structure tests need a valid script). */
export async function psTree(src: string): Promise<PsNode> {
  const errs = await psSyntaxErrors(src);
  if (errs.length > 0) throw new Error(`script does not parse: ${errs.join('; ')}`);
  const tree = (await getParser()).parse(src)!;
  return toPsNode(tree.rootNode);
}

/** Every node of `type` under `n` (pre-order). */
export function psFind(n: PsNode, type: string): PsNode[] {
  const out: PsNode[] = [];
  const walk = (x: PsNode): void => {
    if (x.type === type) out.push(x);
    x.children.forEach(walk);
  };
  walk(n);
  return out;
}

/** function name -> its function_statement node. */
export function psFunctions(root: PsNode): Map<string, PsNode> {
  const m = new Map<string, PsNode>();
  for (const f of psFind(root, 'function_statement')) {
    const name = f.children.find((c) => c.type === 'function_name');
    if (name) m.set(name.text, f);
  }
  return m;
}

/** Command names invoked under `n`, in source order (`Fail`, `Restart-ForNextRound`, `shutdown.exe` ...). */
export function psCommands(n: PsNode): string[] {
  return psFind(n, 'command_name').map((c) => c.text);
}

/** Member names accessed or invoked under `n` (`Install`, `IsBusy`, `GetBaseException` ...). */
export function psMembers(n: PsNode): string[] {
  return psFind(n, 'member_name').map((c) => c.text);
}
