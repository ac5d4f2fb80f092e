/**
 * Names from a file (cabinet members, WIM paths) shown as text on a terminal: a hostile name
 * must not write an escape sequence (ESC, CSI) or split one entry over two lines. The one
 * helper every text listing of member names goes through; `--json` keeps the real name (JSON
 * escapes control characters itself).
 */

// C0 controls, DEL, and the C1 controls (U+0080..U+009F: a name flagged UTF-8 can decode to them)
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/;
const CONTROLS = /[\u0000-\u001f\u007f-\u009f]/g;
const escaped = (c: string): string => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`;

/**
 * `name` with each control character shown as `\xNN` (its code point in two hex digits), the
 * form a cabinet name's bytes over 0x7F already take (src/cab/header.ts): `a\x1b[31m.txt`,
 * `two\x0alines.txt`. Anything else is left as it is.
 */
export function showName(name: string): string {
  if (!CONTROL.test(name)) return name;
  return name.replace(CONTROLS, escaped);
}

/**
 * A path held as a byte string (one char per byte, see src/util/fsout.ts byteString) shown as
 * a cabinet name without the UTF-8 flag is: bytes over 0x7F as `\xNN`, and control characters
 * escaped by showName.
 */
export function showByteName(bytes: string): string {
  return showName(bytes).replace(/[\u00a0-\u00ff]/g, (c) => `\\x${c.charCodeAt(0).toString(16)}`);
}

// controls other than tab and line feed; a CR ending a line (CRLF) moves nothing and stays
const TERMINAL_CONTROLS = /\r(?!\n)|[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f-\u009f]/;
const TERMINAL_CONTROLS_ALL = new RegExp(TERMINAL_CONTROLS.source, 'g');

/**
 * Text about to be written to stdout or stderr, made safe for a terminal as a whole: whatever
 * a file put into it (a title, a name, an error message quoting either) cannot move the cursor,
 * recolour or retitle the terminal. Controls other than tab, line feed and the CR of a CRLF are
 * shown as `\xNN`, as showName shows them. Listings still escape each name with showName first,
 * so that a line feed in a name does not split its entry.
 */
export function terminalText(text: string): string {
  if (!TERMINAL_CONTROLS.test(text)) return text;
  return text.replace(TERMINAL_CONTROLS_ALL, escaped);
}

/** `done` of `total` as a whole percentage for a progress line (`42%`); 0 of 0 is `0%`. */
export function percent(done: number, total: number): string {
  return `${Math.floor((done / Math.max(total, 1)) * 100)}%`;
}
