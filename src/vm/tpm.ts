/**
 * swtpm, the TPM 2.0 emulator behind QEMU's `-tpmdev emulator`.
 *
 * The runner starts one `swtpm socket --terminate` per QEMU process: swtpm exits by itself when
 * QEMU disconnects, so a QEMU restart (one process per boot) needs a fresh swtpm. The state
 * directory belongs to the run (RUNDIR/tpm), so keys, NV indexes and PCR banks configured by the
 * guest survive its reboots. Only the process started here is ever signalled, by its pid.
 */
import { appendFileSync, existsSync, mkdirSync, openSync, readSync, closeSync, fstatSync, rmSync, statSync } from 'node:fs';
import { settlesWithin } from '../util/timers.js';
import { spawnChild } from './child.js';
import { ToolError, UnsupportedError, UsageError } from '../errors.js';
import { missingToolMessage, runTool } from '../util/exec.js';

export const SWTPM_BINARY = 'swtpm';

export interface SwtpmPaths {
  /** TPM state (`tpm2-00.permall`); created if missing, never wiped. */
  stateDir: string;
  /** Control socket QEMU connects to (unix socket path limit applies). */
  socket: string;
  /** swtpm's own log, appended to across boots. */
  log: string;
}

/** `swtpm socket` argv. Pure. swtpm's option parser splits at commas and has no escape for them. */
export function swtpmArgs(p: SwtpmPaths): string[] {
  for (const [what, v] of Object.entries(p)) {
    if (v.includes(',')) throw new UsageError(`the swtpm ${what} path contains a comma, which swtpm option syntax cannot carry: ${v}`);
  }
  return ['socket', '--tpm2', '--tpmstate', `dir=${p.stateDir}`, '--ctrl', `type=unixio,path=${p.socket}`, '--log', `file=${p.log}`, '--terminate'];
}

/** Parse `swtpm socket --print-capabilities` (one JSON object) into its feature list. */
export function parseSwtpmCapabilities(text: string): { version?: string; features: string[] } {
  let v: unknown;
  try {
    v = JSON.parse(text.trim());
  } catch {
    throw new ToolError('E_VM_TPM', `cannot read swtpm's capabilities: ${JSON.stringify(text.trim().slice(0, 80))}`);
  }
  const o = v as { version?: unknown; features?: unknown };
  if (typeof o !== 'object' || o === null || !Array.isArray(o.features)) throw new ToolError('E_VM_TPM', `swtpm's capabilities have no feature list: ${JSON.stringify(text.trim().slice(0, 80))}`);
  const out: { version?: string; features: string[] } = { features: o.features.filter((f): f is string => typeof f === 'string') };
  if (typeof o.version === 'string') out.version = o.version;
  return out;
}

/** Before the first boot: swtpm installed (else E_TOOL_MISSING naming the Debian package) and able to emulate TPM 2.0. */
export async function checkSwtpm(binary = SWTPM_BINARY): Promise<{ version?: string }> {
  const r = await runTool(binary, ['socket', '--print-capabilities'], { timeoutMs: 10_000 });
  const caps = parseSwtpmCapabilities(r.stdout);
  if (!caps.features.includes('tpm-2.0')) {
    const name = caps.version === undefined ? 'swtpm' : `swtpm ${caps.version}`;
    throw new UnsupportedError('E_VM_TPM', `${name} cannot emulate a TPM 2.0 (its libtpms lacks it; features: ${caps.features.join(', ') || 'none'})`);
  }
  return caps.version === undefined ? {} : { version: caps.version };
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Last `n` non-empty lines of a (possibly large) log file; empty when it cannot be read. */
export function logTail(file: string, n = 3): string {
  let fd: number | undefined;
  try {
    fd = openSync(file, 'r');
    const size = fstatSync(fd).size;
    const len = Math.min(size, 4096);
    const buf = Buffer.alloc(len);
    readSync(fd, buf, 0, len, size - len);
    return buf.toString('utf8').split(/\r?\n/).map((l) => l.trim()).filter(Boolean).slice(-n).join(' | ');
  } catch {
    return '';
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

export interface SwtpmExit {
  exitCode: number | null;
  signal: string | null;
}

export interface SwtpmProcess {
  pid: number | null;
  /** Resolves when the process has exited (never rejects). */
  exited: Promise<SwtpmExit>;
  /**
   * Wait up to `graceMs` for swtpm to leave by itself (it does once QEMU disconnects), then
   * SIGTERM, then SIGKILL. Removes the socket if swtpm could not.
   */
  stop(graceMs?: number): Promise<SwtpmExit>;
  /** SIGKILL at once (a second Ctrl-C). */
  kill(): void;
}

export interface StartSwtpmOptions {
  binary?: string;
  /** Give up when the control socket has not appeared after this long. Default 10 s. */
  readyTimeoutMs?: number;
}

/**
 * Start swtpm and wait until its control socket exists (QEMU refuses to start without it).
 * Throws ToolError E_VM_TPM_START (with swtpm's last log lines) if it exits or stalls first;
 * the process is stopped before the throw.
 */
export async function startSwtpm(p: SwtpmPaths, opts: StartSwtpmOptions = {}): Promise<SwtpmProcess> {
  const args = swtpmArgs(p);
  mkdirSync(p.stateDir, { recursive: true });
  // a socket left by a SIGKILLed swtpm of this run would make the readiness check lie
  rmSync(p.socket, { force: true });
  // detached (src/vm/child.ts): the terminal's Ctrl-C must not take the TPM away under a running VM
  const child = spawnChild(opts.binary ?? SWTPM_BINARY, args, (d) => {
    try {
      appendFileSync(p.log, d); // the same file swtpm logs into (--log), so all of it is in one place
    } catch {
      /* the message below still carries the tail */
    }
  });
  let spawnError: string | undefined;
  const exited: Promise<SwtpmExit> = child.exited.then((r) => {
    spawnError = r.error;
    return { exitCode: r.exitCode, signal: r.signal };
  });
  const isDone = () => child.hasExited;

  const stop = async (graceMs = 3000): Promise<SwtpmExit> => {
    if (!isDone()) await settlesWithin(exited, graceMs);
    if (!isDone()) {
      child.kill('SIGTERM'); // only the process started above
      await settlesWithin(exited, 2000);
    }
    child.kill('SIGKILL');
    const r = await exited;
    rmSync(p.socket, { force: true });
    return r;
  };

  const deadline = Date.now() + (opts.readyTimeoutMs ?? 10_000);
  for (;;) {
    if (isDone()) {
      const r = await exited;
      if (spawnError === 'ENOENT') throw new ToolError('E_TOOL_MISSING', missingToolMessage(opts.binary ?? SWTPM_BINARY));
      const why = child.stderrTail() || logTail(p.log) || `exit code ${r.exitCode ?? r.signal ?? 'none'}`;
      throw new ToolError('E_VM_TPM_START', `swtpm exited before it was ready: ${why}`, { file: p.log });
    }
    if (isSocket(p.socket)) break;
    if (Date.now() >= deadline) {
      await stop(0);
      throw new ToolError('E_VM_TPM_START', `swtpm did not create its socket ${p.socket} within ${opts.readyTimeoutMs ?? 10_000} ms`, { file: p.log });
    }
    await sleep(20);
  }
  // swtpm binds, then listens: give it a moment so QEMU's connect is not refused
  await sleep(50);

  return {
    pid: child.pid ?? null,
    exited,
    stop,
    kill: () => child.kill('SIGKILL'),
  };
}

function isSocket(file: string): boolean {
  try {
    return existsSync(file) && statSync(file).isSocket();
  } catch {
    return false;
  }
}
