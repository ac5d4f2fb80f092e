import { FormatError } from '../../errors.js';

/**
 * Escaping for text placed on a cmd.exe batch-file line.
 *
 * How cmd.exe reads a batch line (the phases that matter here):
 *  1. percent expansion: `%%` becomes `%`, `%name%` is replaced by a variable; happens
 *     everywhere, inside quotes too, and carets do not protect `%`;
 *  2. special characters: a `"` toggles quoting; outside quotes `^x` gives a literal x and
 *     an unescaped `& | < > ( )` is an operator; inside quotes everything is literal;
 *  5. only with delayed expansion on, and only in a token that contains `!`: `!name!` is
 *     replaced and carets are removed once more (inside quotes too).
 * A line break ends the command and cannot be escaped, so CR/LF/NUL are refused.
 */
export interface CmdEscapeOptions {
  /** The line runs under `setlocal EnableDelayedExpansion`. */
  delayedExpansion?: boolean;
  /** Where the text is used, for the error message. */
  what?: string;
}

/** Characters that are operators (or grouping) outside quotes in phase 2. */
export const CMD_METACHARACTERS = ['^', '&', '|', '<', '>', '(', ')'] as const;

const PHASE2 = new Set<string>(CMD_METACHARACTERS);

function refuse(text: string, why: string, opts: CmdEscapeOptions): never {
  throw new FormatError('E_CMD_UNSAFE', `${opts.what ?? 'text'} ${JSON.stringify(text)} ${why}; it cannot be written safely into a batch file`);
}

/**
 * A reference to a batch variable (`%NAME%`) that the generator, never the data, puts into
 * text before escaping. It is carried as a private-use sentinel that escaping leaves alone
 * and is turned into `%NAME%` afterwards; data containing the sentinel characters is refused,
 * so a `%...%` in data can only ever come out doubled.
 */
const VAR_OPEN = '\uE000';
const VAR_CLOSE = '\uE001';

export function cmdVar(name: string): string {
  if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name) && !/^~?[0-9]$/.test(name)) {
    throw new FormatError('E_CMD_UNSAFE', `batch variable name ${JSON.stringify(name)} is not a plain identifier`);
  }
  return VAR_OPEN + name + VAR_CLOSE;
}

function expandVars(escaped: string): string {
  return escaped.replace(/\uE000([^\uE001]*)\uE001/g, (_m, name: string) => (/^~?[0-9]$/.test(name) ? `%${name}` : `%${name}%`));
}

function checkRepresentable(text: string, opts: CmdEscapeOptions, quotedToken = false): void {
  if (/[\r\n\u0000\u001a]/.test(text)) refuse(text, 'contains a line break, NUL or Ctrl-Z', opts);
  if (!quotedToken && opts.delayedExpansion && text.includes('^') && text.includes('!')) {
    // Whether phase 5 strips a caret depends on whether its token holds a `!`; with both
    // present in data we cannot know the token boundaries the caller will produce.
    refuse(text, 'contains both ^ and ! under delayed expansion', opts);
  }
}

/**
 * Escape literal text (which may itself contain quotes) so that cmd.exe reads exactly
 * `text` back: quote-aware, because carets are literal inside a quoted region.
 * Use for `echo` payloads (the JSON status lines) and anything not wrapped by cmdQuote.
 */
export function cmdEscape(text: string, opts: CmdEscapeOptions = {}): string {
  checkRepresentable(text, opts);
  const delayed = opts.delayedExpansion === true && text.includes('!');
  let out = '';
  let quoted = false;
  for (const ch of text) {
    if (ch === '%') {
      out += '%%';
      continue;
    }
    if (ch === '"') {
      quoted = !quoted;
      out += ch;
      continue;
    }
    if (delayed && (ch === '!' || ch === '^')) {
      // Phase 5 needs `^!` / `^^`; outside quotes phase 2 must first keep that caret.
      out += quoted ? '^' + ch : '^^^' + ch;
      continue;
    }
    if (!quoted && PHASE2.has(ch)) {
      out += '^' + ch;
      continue;
    }
    out += ch;
  }
  return expandVars(out);
}

/**
 * A double-quoted argument (a path, possibly with spaces). `"` cannot appear inside a
 * cmd quoted string (and never in a Windows path), so it is refused. `%` is doubled;
 * under delayed expansion `!` becomes `^!`.
 */
export function cmdQuote(value: string, opts: CmdEscapeOptions = {}): string {
  // The quoted value is its own token (callers prefix only `/Option:`), so phase 5 sees it whole.
  checkRepresentable(value, opts, true);
  if (value.includes('"')) refuse(value, 'contains a double quote', opts);
  if (value.endsWith('\\')) {
    // `"C:\dir\"` makes many programs (MSVCRT argv rules) read the closing quote as literal.
    value = value.replace(/\\+$/, '');
    if (value === '') refuse('\\', 'is only backslashes', opts);
  }
  let inner = value.replace(/%/g, '%%');
  if (opts.delayedExpansion && value.includes('!')) inner = inner.replace(/[\^!]/g, (c) => '^' + c);
  return `"${expandVars(inner)}"`;
}

/** A token we generate ourselves (labels, step ids, drive-relative names): no escaping needed, so insist on it. */
export function cmdWord(value: string, what = 'word'): string {
  if (!/^[A-Za-z0-9_.:\\#+-]+$/.test(value)) {
    throw new FormatError('E_CMD_UNSAFE', `${what} ${JSON.stringify(value)} must only contain letters, digits and _ . : \\ # + -`);
  }
  return value;
}

/**
 * `echo` a line exactly as given into a file or device. `echo.` style is not used: a
 * leading `(` after `echo` avoids the ECHO ON/OFF special words and an empty payload.
 */
export function cmdEchoLine(payload: string, redirect: string, opts: CmdEscapeOptions = {}): string {
  if (!/^>>?(?:COM[1-4]|NUL|"(?:[^"%!^&|<>]|%[A-Za-z_][A-Za-z0-9_]*%)+")$/.test(redirect)) {
    throw new FormatError('E_CMD_UNSAFE', `redirect target ${JSON.stringify(redirect)} is not a plain device or quoted file`);
  }
  const body = cmdEscape(payload, opts);
  // The redirection goes first so trailing digits in the payload (`...1`) can never turn
  // into a handle redirection like `1>`, and an odd quote in the payload cannot swallow it.
  return `${redirect} echo(${body}`;
}
