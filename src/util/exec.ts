import { execa } from 'execa';
import { ToolError } from '../errors.js';

/**
 * The one way to run an external tool (wimlib-imagex, xorriso, cabextract, qemu, mtools).
 *
 *   const r = await runTool('wimlib-imagex', ['info', wim], { file: wim, onLine: (l) => … });
 *
 * - Tool not on PATH → ToolError `E_TOOL_MISSING`, whose message names the Debian package
 *   to install (see DEBIAN_PACKAGES; add a row when you use a new tool).
 * - Non-zero exit (and not listed in `okExitCodes`) → ToolError `E_TOOL_FAILED` carrying
 *   the last lines of the tool's stderr (trimmed) and its exit code (`err.exitCode`).
 * - `timeoutMs` → the child gets SIGTERM and the call fails with `E_TOOL_TIMEOUT`.
 * - `onLine(line, stream)` sees every stdout/stderr line as it arrives; `\r` also ends a
 *   line, because progress meters (wimlib, xorriso) redraw one line with carriage returns.
 * - `binary: true` returns stdout as bytes (for UTF-16 output such as `wimlib-imagex info --xml`).
 * - The call never goes through a shell: arguments are passed as-is, nothing is interpolated.
 *
 * Errors name `opts.file` (the user's input) when given, so the CLI prints `msu: FILE: …`.
 */
export const DEBIAN_PACKAGES: Readonly<Record<string, string>> = {
  'wimlib-imagex': 'wimtools',
  xorriso: 'xorriso',
  cabextract: 'cabextract',
  'qemu-img': 'qemu-utils',
  'qemu-system-x86_64': 'qemu-system-x86',
  mcopy: 'mtools',
  mformat: 'mtools',
  mdir: 'mtools',
  mmd: 'mtools',
  'virt-customize': 'guestfs-tools',
  guestfish: 'guestfish',
  hivexget: 'libhivex-bin',
  '7zz': '7zip',
  swtpm: 'swtpm',
  swtpm_setup: 'swtpm-tools',
};

export type ToolStream = 'stdout' | 'stderr';

export interface RunToolOptions {
  /** The user-named file the run concerns; put on every error. */
  file?: string;
  cwd?: string;
  env?: Record<string, string>;
  /** Text fed to the child's stdin. */
  input?: string | Uint8Array;
  /** Kill the child (SIGTERM) after this many milliseconds. Default: no limit. */
  timeoutMs?: number;
  /** Every output line as it arrives (progress meters, logs). */
  onLine?: (line: string, stream: ToolStream) => void;
  /** Return stdout as raw bytes instead of UTF-8 text. */
  binary?: boolean;
  /** Exit codes that are not failures (besides 0). */
  okExitCodes?: number[];
  /** How many trailing stderr lines go into an E_TOOL_FAILED message. Default 6. */
  stderrLines?: number;
}

export interface ToolResult<Out = string> {
  stdout: Out;
  stderr: string;
  exitCode: number;
}

/** ToolError with the tool's exit code and full stderr attached (for callers that map known failures). */
export class ToolRunError extends ToolError {
  constructor(
    code: string,
    message: string,
    readonly tool: string,
    readonly exitCode: number | undefined,
    readonly stderr: string,
    file?: string,
  ) {
    super(code, message, { file });
  }
}

/** Last `n` non-empty lines of tool output, progress redraws dropped. */
export function tailLines(text: string, n: number): string {
  const lines = text.split(/\r\n|\r|\n/).map((l) => l.trim()).filter((l) => l.length > 0);
  return lines.slice(-n).join(' | ');
}

export function missingToolMessage(cmd: string): string {
  const pkg = DEBIAN_PACKAGES[cmd];
  return pkg
    ? `${cmd} is not installed (Debian/Ubuntu: apt-get install ${pkg})`
    : `${cmd} is not installed or not on PATH`;
}

export function runTool(cmd: string, args: readonly string[], opts: RunToolOptions & { binary: true }): Promise<ToolResult<Uint8Array>>;
export function runTool(cmd: string, args: readonly string[], opts?: RunToolOptions & { binary?: false }): Promise<ToolResult<string>>;
export async function runTool(
  cmd: string,
  args: readonly string[],
  opts: RunToolOptions = {},
): Promise<ToolResult<string | Uint8Array>> {
  const child = execa(cmd, [...args], {
    reject: false,
    buffer: false,
    ...(opts.input !== undefined ? { input: opts.input } : { stdin: 'ignore' as const }),
    ...(opts.cwd !== undefined ? { cwd: opts.cwd } : {}),
    ...(opts.timeoutMs !== undefined ? { timeout: opts.timeoutMs } : {}),
    // English messages (we match on some) but UTF-8 names: under plain C, xorriso mangles
    // non-ASCII Joliet names and wimlib may refuse them.
    extendEnv: true,
    env: { LC_ALL: 'C.UTF-8', ...opts.env },
  });

  const outChunks: Buffer[] = [];
  const errChunks: Buffer[] = [];
  const pending: Record<ToolStream, string> = { stdout: '', stderr: '' };
  const emit = (stream: ToolStream, text: string, flush: boolean): void => {
    if (!opts.onLine) return;
    const all = pending[stream] + text;
    const parts = all.split(/\r\n|\r|\n/);
    pending[stream] = flush ? '' : (parts.pop() ?? '');
    for (const p of parts) if (p.trim().length > 0) opts.onLine(p, stream);
  };
  child.stdout?.on('data', (d: Buffer) => {
    outChunks.push(d);
    if (!opts.binary) emit('stdout', d.toString('utf8'), false);
  });
  child.stderr?.on('data', (d: Buffer) => {
    errChunks.push(d);
    emit('stderr', d.toString('utf8'), false);
  });

  const r = await child;
  if (!opts.binary) emit('stdout', '', true);
  emit('stderr', '', true);
  const stderr = Buffer.concat(errChunks).toString('utf8');
  const outBuf = Buffer.concat(outChunks);

  if (r.code === 'ENOENT' || (r.exitCode === undefined && /ENOENT/.test(r.originalMessage ?? ''))) {
    throw new ToolRunError('E_TOOL_MISSING', missingToolMessage(cmd), cmd, undefined, '', opts.file);
  }
  if (r.timedOut) {
    throw new ToolRunError('E_TOOL_TIMEOUT', `${cmd} did not finish within ${opts.timeoutMs} ms and was stopped`, cmd, undefined, stderr, opts.file);
  }
  const exitCode = r.exitCode;
  if (exitCode === undefined) {
    const why = r.signal ? `was killed by ${r.signal}` : (r.originalMessage ?? 'could not be run');
    throw new ToolRunError('E_TOOL_FAILED', `${cmd} ${why}`, cmd, undefined, stderr, opts.file);
  }
  if (exitCode !== 0 && !(opts.okExitCodes ?? []).includes(exitCode)) {
    const tail = tailLines(stderr, opts.stderrLines ?? 6) || tailLines(outBuf.toString('utf8'), 3);
    const msg = `${cmd} ${args[0] ?? ''}`.trim() + ` failed with exit code ${exitCode}` + (tail ? `: ${tail}` : '');
    throw new ToolRunError('E_TOOL_FAILED', msg, cmd, exitCode, stderr, opts.file);
  }
  return {
    stdout: opts.binary ? new Uint8Array(outBuf.buffer, outBuf.byteOffset, outBuf.byteLength) : outBuf.toString('utf8'),
    stderr,
    exitCode,
  };
}
