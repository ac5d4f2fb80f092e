import path from 'node:path';

/**
 * A path the user gave, as --json shows it (docs/cli.md: no absolute paths): as named when
 * relative; relative to the working directory when named absolutely, so the output does not
 * carry the machine's directory layout.
 */
export function shownPath(p: string, cwd: string = process.cwd()): string {
  if (!path.isAbsolute(p)) return p;
  return path.relative(cwd, p) || '.';
}
