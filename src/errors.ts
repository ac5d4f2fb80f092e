/**
 * Every failure the toolkit reports on purpose is an MsuError: a stable code for
 * scripts, a human message, and (when known) the file it concerns. The CLI prints
 * `msu: <file>: <message>` and maps the class to an exit code; anything else is a bug.
 */
export type ExitKind = 'input' | 'usage' | 'tool' | 'io' | 'mismatch' | 'unsupported' | 'runtime' | 'interrupted';

export interface ErrorContext {
  /** File the problem is in (as the user named it, never resolved to an absolute path). */
  file?: string;
  /** Where in the file: a byte offset, an XML element path, an INF line. */
  where?: string;
  cause?: unknown;
}

export class MsuError extends Error {
  readonly code: string;
  readonly kind: ExitKind;
  file?: string;
  where?: string;

  constructor(code: string, message: string, ctx: ErrorContext = {}, kind: ExitKind = 'input') {
    super(message, ctx.cause === undefined ? undefined : { cause: ctx.cause });
    this.name = new.target.name;
    this.code = code;
    this.kind = kind;
    this.file = ctx.file;
    this.where = ctx.where;
  }

  /** Attach the file name once it is known (parsers work on bytes and do not know it). */
  inFile(file: string): this {
    if (this.file === undefined) this.file = file;
    return this;
  }

  /** One line, no stack: what the CLI prints. */
  describe(): string {
    const loc = this.where ? ` (${this.where})` : '';
    return this.file ? `${this.file}: ${this.message}${loc}` : `${this.message}${loc}`;
  }
}

/** Input ended before a structure did, or an offset/length points outside it. */
export class TruncatedError extends MsuError {
  constructor(message: string, ctx: ErrorContext = {}) {
    super('E_TRUNCATED', message, ctx, 'input');
  }
}

/** Input is well-formed enough to read but says something impossible or hostile. */
export class FormatError extends MsuError {
  constructor(code: string, message: string, ctx: ErrorContext = {}) {
    super(code, message, ctx, 'input');
  }
}

/** A valid feature of the format that this toolkit does not implement (yet). */
export class UnsupportedError extends MsuError {
  constructor(code: string, message: string, ctx: ErrorContext = {}) {
    super(code, message, ctx, 'unsupported');
  }
}

/** Wrong command-line usage. */
export class UsageError extends MsuError {
  constructor(message: string, ctx: ErrorContext = {}) {
    super('E_USAGE', message, ctx, 'usage');
  }
}

/** An external tool (wimlib-imagex, cabextract, xorriso, qemu) is missing or failed. */
export class ToolError extends MsuError {
  constructor(code: string, message: string, ctx: ErrorContext = {}) {
    super(code, message, ctx, 'tool');
  }
}

/** Reading or writing the file system failed (permissions, missing file, disk full). */
export class IoError extends MsuError {
  constructor(code: string, message: string, ctx: ErrorContext = {}) {
    super(code, message, ctx, 'io');
  }
}

/** A verification found a difference (hash mismatch, plan differs): the answer is "no". */
export class MismatchError extends MsuError {
  constructor(code: string, message: string, ctx: ErrorContext = {}) {
    super(code, message, ctx, 'mismatch');
  }
}

/** Exit codes, documented in docs/cli.md. */
export const EXIT = {
  ok: 0,
  mismatch: 1,
  usage: 2,
  input: 3,
  unsupported: 4,
  tool: 5,
  io: 6,
  runtime: 7,
  /** msu verify: nothing mismatched, but something could not be checked. */
  unchecked: 8,
  internal: 70,
  /** Stopped by SIGINT/SIGTERM (128 + SIGINT, as shells report it). */
  interrupted: 130,
} as const;

export function exitCodeFor(err: unknown): number {
  if (err instanceof MsuError) return EXIT[err.kind];
  return EXIT.internal;
}

/** Turn a Node fs error into an IoError that names the file. */
export function ioError(err: unknown, file: string, action = 'read'): MsuError {
  if (err instanceof MsuError) return err.inFile(file);
  const e = err as NodeJS.ErrnoException;
  const why =
    e?.code === 'ENOENT' ? 'no such file or directory'
    : e?.code === 'EACCES' || e?.code === 'EPERM' ? 'permission denied'
    : e?.code === 'EISDIR' ? 'is a directory'
    : e?.code === 'ENOTDIR' ? 'a path component is not a directory'
    : e?.code === 'ENOSPC' ? 'no space left on device'
    : (e?.message ?? String(err));
  return new IoError(`E_IO_${e?.code ?? 'UNKNOWN'}`, `cannot ${action}: ${why}`, { file, cause: err });
}

/** The user stopped the command (Ctrl-C, SIGTERM); what was written so far says how far it got. */
export class InterruptedError extends MsuError {
  constructor(code: string, message: string, ctx: ErrorContext = {}) {
    super(code, message, ctx, 'interrupted');
  }
}
