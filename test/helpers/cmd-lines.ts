/**
 * A small checker for generated batch files: cmd.exe reads at most 8191 characters per line
 * (after %variable% expansion), and a command line with an odd number of double quotes
 * swallows everything after the last one (redirections included) into one argument.
 */
export const CMD_LINE_LIMIT = 8191;

export interface CmdLineProblem {
  line: number;
  problem: string;
}

/**
 * Problems of every CRLF-separated line. `vars` gives the longest value each variable can take
 * at run time, so a line is measured as cmd sees it; unknown variables count as 260 characters
 * (MAX_PATH), the worst case for the paths these scripts hold.
 */
export function cmdLineProblems(content: string, vars: Record<string, number> = {}): CmdLineProblem[] {
  const out: CmdLineProblem[] = [];
  content.split('\r\n').forEach((raw, i) => {
    const expanded = raw
      .replace(/%%/g, '%')
      .replace(/%~?[0-9]/g, 'x'.repeat(260))
      .replace(/%([A-Za-z_][A-Za-z0-9_]*)(:[^%]*)?%/g, (_m, n: string) => 'x'.repeat(vars[n] ?? 260));
    if (expanded.length > CMD_LINE_LIMIT) out.push({ line: i + 1, problem: `${expanded.length} characters after expansion (limit ${CMD_LINE_LIMIT})` });
    // echo payloads carry escaped JSON (quotes toggled by the escaper); rem lines are comments
    const body = raw.replace(/^(?:>>?"[^"]*"|2>nul >COM1|>COM1) echo\(.*$/, '').replace(/^echo\(.*$/, '');
    if (/^rem /i.test(body) || body === '') return;
    const quotes = (body.replace(/\^"/g, '').match(/"/g) ?? []).length;
    if (quotes % 2 !== 0) out.push({ line: i + 1, problem: 'odd number of double quotes' });
  });
  return out;
}
