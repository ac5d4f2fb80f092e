/**
 * A small terminal model for tests of the live progress line: stdout and stderr write into one
 * screen, in order; \r returns to column 0, ESC[2K clears the row, \n ends it.
 */
import { Writable } from 'node:stream';

/** One terminal behind both streams: \r returns to column 0, ESC[2K clears the row, \n ends it. */
export class Terminal {
  rows: string[] = [''];
  private col = 0;
  write(s: string): void {
    for (let i = 0; i < s.length; i++) {
      if (s.startsWith('\x1b[2K', i)) {
        this.rows[this.rows.length - 1] = '';
        i += 3;
      } else if (s[i] === '\r') this.col = 0;
      else if (s[i] === '\n') {
        this.rows.push('');
        this.col = 0;
      } else {
        const row = this.rows[this.rows.length - 1]!;
        this.rows[this.rows.length - 1] = row.slice(0, this.col) + s[i] + row.slice(this.col + 1);
        this.col++;
      }
    }
  }
  /** Rows with text, as seen. */
  get screen(): string[] {
    return this.rows.filter((r) => r.length > 0);
  }
}

export class TermStream extends Writable {
  constructor(private readonly term: Terminal, readonly isTTY: boolean, readonly columns = 80) {
    super();
  }
  /** Every chunk written, for checking what was shown along the way. */
  chunks: string[] = [];
  override _write(chunk: Buffer, _enc: string, cb: () => void): void {
    this.chunks.push(chunk.toString('utf8'));
    this.term.write(chunk.toString('utf8'));
    cb();
  }
}

