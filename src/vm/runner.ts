/**
 * The host-side VM runner: prepare a run directory, boot QEMU (one process per boot with
 * `-action reboot=shutdown`, or one process for the whole run with in-place reboots),
 * follow QMP events and the serial protocol, enforce the watchdogs, and finish with a
 * cross-check of what the guest said, what it left on the status disk, and how it stopped.
 *
 * Run directory (all names fixed; content deterministic except where noted):
 *   spec.json        the validated spec (canonical JSON)
 *   serial.log       everything the guest wrote to COM1, all boots appended
 *   qmp.log          QMP traffic, one JSON per line, ">" sent / "<" received (event timestamps dropped)
 *   qemu-stderr.log  QEMU's own diagnostics
 *   events.jsonl     the run's event stream (carries `t`, milliseconds since the run started)
 *   screendumps/     NN-<reason>.png|ppm taken when a watchdog or failure stopped the VM
 *   status/          files copied off the status disk after the run
 *   tpm/, swtpm.log  swtpm's state (vm.tpm; kept across boots) and its log
 *   result.json      RunResult (carries `durationMs`)
 * Durations appear only in events.jsonl and result.json.
 */
import { appendFileSync, existsSync, mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { copyFile, mkdtemp, rename, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { ioError, MsuError, UsageError } from '../errors.js';
import { runTool } from '../util/exec.js';
import { writeFileAtomic } from '../util/fsout.js';
import { canonicalJson } from '../util/json.js';
import { delay, settlesWithin } from '../util/timers.js';
import { spawnChild, type RunChild } from './child.js';
import { compareVersions, ovmfPaths, probeAccel, probeQemu, QEMU_BINARY, requireDevices, type QemuFeatures } from './features.js';
import { type GuestEvent, SerialTail, type SerialItem } from './protocol.js';
import { QmpClient, type QmpEvent } from './qmp.js';
import { qemuArgs, runPaths, type OvmfPaths } from './qemu-args.js';
import { applyTimeoutOverrides, effectiveTimeouts, type RunSpec, type TimeoutOverrides, type Timeouts } from './spec.js';
import { copyOutStatusDisk, createStatusDisk, readStatusJson } from './status-disk.js';
import { checkSwtpm, logTail, startSwtpm, SWTPM_BINARY, swtpmArgs, type SwtpmProcess } from './tpm.js';

/** Which watchdog fired. */
export type WatchdogLimit = 'boot' | 'heartbeat' | 'perBoot' | 'total' | 'maxBoots' | 'poweroffAfterDone';

/** Event payloads; every emitted RunEvent also carries `t` (ms since the run started). */
export type RunEventBody =
  | { type: 'prepare'; accel: 'kvm' | 'tcg'; qemu: string; timeouts: Timeouts }
  | { type: 'warning'; message: string }
  | { type: 'qemu-start'; start: number; pid: number | null }
  | { type: 'qemu-exit'; start: number; exitCode: number | null; signal: string | null }
  | { type: 'swtpm-start'; start: number; pid: number | null }
  | { type: 'swtpm-exit'; start: number; exitCode: number | null; signal: string | null }
  /** QMP `query-tpm` right after each QEMU start (vm.tpm): proof the TPM device is attached. */
  | { type: 'tpm'; start: number; devices: unknown[] }
  | { type: 'qmp'; event: string; data: Record<string, unknown> }
  | { type: 'guest'; boot: number; event: GuestEvent }
  | { type: 'protocol-warning'; line: number; message: string }
  | { type: 'guest-reset'; boots: number }
  | { type: 'status'; start: number; boots: number; bootAgeSec: number; heartbeatAgeSec: number | null; step?: string; pct?: number; deadline?: NextDeadline }
  /** The run was asked to stop (SIGINT/SIGTERM); `hard`: kill at once (a second Ctrl-C). */
  | { type: 'abort'; hard: boolean; reason: string }
  | { type: 'watchdog'; limit: WatchdogLimit; message: string }
  | { type: 'powerdown'; reason: string }
  | { type: 'screendump'; file: string }
  | { type: 'finished'; ok: boolean; message: string };

export type RunEvent = RunEventBody & { t: number };

/** The watchdog that fires next if nothing happens, and how soon. */
export interface NextDeadline {
  limit: WatchdogLimit;
  remainingSec: number;
}

export type FailureCode =
  | 'watchdog'
  | 'guest-error'
  | 'guest-panicked'
  | 'block-io-error'
  | 'vm-stopped'
  | 'qemu-start'
  | 'qemu-exited'
  | 'unexpected-shutdown'
  | 'no-done'
  | 'status-missing'
  | 'status-mismatch'
  | 'aborted'
  | 'tpm-error'
  | 'host-error';

export interface RunFailure {
  code: FailureCode;
  message: string;
  limit?: WatchdogLimit;
}

export interface RunResult {
  id: string;
  ok: boolean;
  accel: 'kvm' | 'tcg';
  /** QEMU processes started. */
  starts: number;
  /** `boot` events the guest sent. */
  boots: number;
  /** Reason of the last SHUTDOWN event ("guest-shutdown", "guest-reset", "host-qmp-quit", …). */
  shutdownReason?: string;
  /** Last terminal protocol event. */
  terminal?: 'done' | 'error';
  guestErrors: Array<{ code: string; message: string }>;
  lastStep?: { id: string; name: string; state: string };
  results: Array<Record<string, unknown>>;
  /** Parsed status file from the status disk (expect.statusFile), if present. */
  status?: unknown;
  /** vm.tpm: the TPM QEMU reported (`query-tpm`) at the first start. */
  tpm?: { model: string; backend: string };
  failure?: RunFailure;
  /** Relative to the run directory. */
  screendumps: string[];
  statusFiles: string[];
  warnings: string[];
  durationMs: number;
}

export interface RunOptions {
  /** Created if missing; must not hold an earlier run. */
  runDir: string;
  onEvent?: (e: RunEvent) => void;
  /** Abort = stop the run: screendump, QMP `quit`, SIGKILL after 3 s; ends as `aborted`. */
  signal?: AbortSignal;
  /** Abort = kill QEMU and swtpm at once (a second Ctrl-C); ends as `aborted`. */
  killSignal?: AbortSignal;
  /** Wall-clock limits that replace the spec's (after tcgFactor): --timeout, --boot-timeout, --idle-timeout. */
  timeoutOverrides?: TimeoutOverrides;
  /** Relative paths in the spec resolve against this (the spec file's directory). Default: cwd. */
  baseDir?: string;
  qemuBinary?: string;
  swtpmBinary?: string;
  /** Skip the probes (tests, or a caller that already probed). */
  features?: QemuFeatures;
  accel?: 'kvm' | 'tcg';
  ovmf?: OvmfPaths;
  /** Extra files for the status disk besides params.json (e.g. the generated guest script). */
  statusFiles?: Record<string, string | Uint8Array>;
  /** Watchdog/serial poll interval. Default 200 ms. */
  tickMs?: number;
  /** How often a `status` progress event is emitted. Default 5 s. */
  statusEverySec?: number;
}

type Outcome =
  | { kind: 'reset' }
  | { kind: 'shutdown' }
  | { kind: 'fail'; failure: RunFailure; stop: boolean; dumpName: string };

const fmtSec = (s: number) => (s >= 120 ? `${Math.round(s / 60)} min` : `${Math.round(s * 10) / 10} s`);

function resolveSpec(spec: RunSpec, baseDir: string): RunSpec {
  const r = (p: string) => path.resolve(baseDir, p);
  const s: RunSpec = structuredClone(spec);
  s.vm.disks = s.vm.disks.map((d) => ({ ...d, path: r(d.path), ...(d.overlayOf ? { overlayOf: r(d.overlayOf) } : {}) }));
  s.vm.cdroms = s.vm.cdroms.map((c) => ({ ...c, path: r(c.path) }));
  s.inputs = s.inputs.map((i) => ({ ...i, src: r(i.src) }));
  if (s.vm.firmware.type === 'ovmf' && s.vm.firmware.varsTemplate) s.vm.firmware.varsTemplate = r(s.vm.firmware.varsTemplate);
  return s;
}

/** Run one VM job to completion. Setup problems throw MsuError; everything after QEMU starts ends in a RunResult. */
export async function runVm(specIn: RunSpec, opts: RunOptions): Promise<RunResult> {
  const t0 = performance.now();
  const now = () => performance.now();
  const bin = opts.qemuBinary ?? QEMU_BINARY;
  const swtpmBin = opts.swtpmBinary ?? SWTPM_BINARY;
  const runDir = path.resolve(opts.runDir);
  const P = runPaths(runDir);
  prepareRunDir(runDir, opts.runDir);

  let hostError: string | undefined;
  let runningChild: RunChild | undefined;
  let runningTpm: SwtpmProcess | undefined;
  const abortReason = (sig: AbortSignal) => (typeof sig.reason === 'string' ? ` (${sig.reason})` : '');
  // a second Ctrl-C: no more asking, kill what this run started
  const onKill = () => {
    emit({ type: 'abort', hard: true, reason: 'killed' });
    runningChild?.kill('SIGKILL');
    runningTpm?.kill();
  };
  opts.killSignal?.addEventListener('abort', onKill, { once: true });
  const emit = (e: RunEventBody): void => {
    const full = { t: Math.round(now() - t0), ...e } as RunEvent;
    // never throw from here: emit runs inside timers and socket handlers, where a throw would
    // take the process down and leave QEMU behind; the boot loop turns hostError into a failure
    try {
      appendFileSync(P.events, JSON.stringify(full) + '\n');
    } catch (err) {
      hostError ??= ioError(err, P.events, 'write').describe();
    }
    try {
      opts.onEvent?.(full);
    } catch (err) {
      hostError ??= `the onEvent callback failed: ${(err as Error)?.message ?? String(err)}`;
    }
  };
  const warnings: string[] = [];
  const warn = (message: string) => {
    warnings.push(message);
    emit({ type: 'warning', message });
  };

  // ---- prepare
  const spec = resolveSpec(specIn, opts.baseDir ?? process.cwd());
  await writeFileAtomic(P.spec, canonicalJson(specIn));
  const features = opts.features ?? (await probeQemu(bin));
  requireDevices(spec, features);
  if (spec.vm.tpm) await checkSwtpm(swtpmBin);
  let accel = opts.accel ?? (spec.vm.accel === 'auto' ? undefined : spec.vm.accel);
  if (accel === undefined) {
    const probe = await probeAccel(bin);
    accel = probe.accel;
    if (probe.warning) warn(probe.warning);
  }
  const to = applyTimeoutOverrides(effectiveTimeouts(spec.timeouts, accel), opts.timeoutOverrides ?? {});
  emit({ type: 'prepare', accel, qemu: features.version.text, timeouts: to });

  let ovmf: OvmfPaths | undefined;
  if (spec.vm.firmware.type === 'ovmf') {
    ovmf = opts.ovmf ?? ovmfPaths(spec.vm.firmware.secureBoot);
    const template = spec.vm.firmware.varsTemplate ?? ovmf.varsTemplate;
    try {
      await copyFile(template, P.ovmfVars);
    } catch (err) {
      throw ioError(err, template);
    }
  }
  for (const d of spec.vm.disks) {
    if (!d.overlayOf || existsSync(d.path)) continue;
    // absolute backing path: qemu-img resolves a relative one against the overlay's directory
    await runTool('qemu-img', ['create', '-f', 'qcow2', '-b', d.overlayOf, '-F', d.overlayFormat ?? 'qcow2', d.path], { file: d.overlayOf });
  }
  for (const d of spec.vm.disks) if (!existsSync(d.path)) throw ioError(Object.assign(new Error('missing'), { code: 'ENOENT' }), d.path);
  if (spec.vm.statusDisk) {
    const params = { id: spec.id, kind: spec.kind, script: spec.guest?.script ?? null, params: spec.guest?.params ?? {} };
    await createStatusDisk(P.statusDisk, { sizeMiB: spec.vm.statusDisk.sizeMiB, files: { ...opts.statusFiles, 'params.json': canonicalJson(params) } });
  }
  if (spec.inputs.length > 0) {
    const iso = path.join(runDir, 'inputs.iso');
    const grafts = spec.inputs.map((i) => `${i.dest.replace(/\\/g, '/')}=${i.src}`);
    await runTool('xorriso', ['-as', 'mkisofs', '-quiet', '-iso-level', '3', '-J', '-joliet-long', '-r', '-V', 'MSU_INPUTS', '-o', iso, '-graft-points', ...grafts], { file: iso });
    spec.vm.cdroms = [...spec.vm.cdroms, { role: 'inputs', path: iso }];
  }

  // socket paths are limited to ~107 bytes; fall back to a short private temp dir
  let sockDir: string | undefined;
  let qmpSocket = path.join(runDir, 'qmp.sock');
  let tpmSocket = P.tpmSocket;
  if (Buffer.byteLength(qmpSocket) > 100 || (spec.vm.tpm && Buffer.byteLength(tpmSocket) > 100)) {
    sockDir = await mkdtemp(path.join(os.tmpdir(), 'msu-qmp-'));
    qmpSocket = path.join(sockDir, 'qmp.sock');
    tpmSocket = path.join(sockDir, 'swtpm.sock');
  }
  const tpmPaths = { stateDir: P.tpmDir, socket: tpmSocket, log: P.tpmLog };
  if (spec.vm.tpm) swtpmArgs(tpmPaths); // refuse paths swtpm cannot take before the first boot
  const args = qemuArgs(spec, { accel, qemuVersion: features.version.text, devices: features.devices, ...(ovmf ? { ovmf } : {}), runDir, qmpSocket, tpmSocket });
  const png = compareVersions(features.version.text, '7.1') >= 0;

  // ---- boot loop
  const tail = new SerialTail(P.serialLog);
  const st = {
    starts: 0,
    boots: 0,
    resets: 0,
    shutdownReason: undefined as string | undefined,
    terminal: undefined as 'done' | 'error' | undefined,
    doneOk: undefined as boolean | undefined,
    guestErrors: [] as Array<{ code: string; message: string }>,
    lastStep: undefined as { id: string; name: string; state: string } | undefined,
    lastPct: undefined as number | undefined,
    results: [] as Array<Record<string, unknown>>,
    screendumps: [] as string[],
    tpm: undefined as { model: string; backend: string } | undefined,
  };
  // Set while a QEMU process runs, so serial events can feed that boot's watchdog state.
  let handleItemHook: ((item: SerialItem) => void) | undefined;
  const runStart = now();
  let outcome: Outcome;
  try {
    for (;;) {
      if (opts.signal?.aborted || opts.killSignal?.aborted) {
        const sig = opts.signal?.aborted ? opts.signal : opts.killSignal!;
        outcome = { kind: 'fail', failure: { code: 'aborted', message: `the run was cancelled${abortReason(sig)}` }, stop: false, dumpName: 'aborted' };
        break;
      }
      if (st.starts >= to.maxBoots) {
        const message = `watchdog "maxBoots" fired: the guest rebooted ${st.starts} times and timeouts.maxBoots = ${to.maxBoots} allows no further boot (reboot storm?)`;
        emit({ type: 'watchdog', limit: 'maxBoots', message });
        outcome = { kind: 'fail', failure: { code: 'watchdog', limit: 'maxBoots', message }, stop: false, dumpName: 'maxBoots' };
        break;
      }
      const o = await oneBoot();
      if (o.kind === 'reset' && hostError === undefined) continue;
      outcome = o;
      break;
    }
  } finally {
    // an exception in the loop must not leave our QEMU running (oneBoot stops its swtpm)
    runningChild?.kill('SIGKILL');
    opts.killSignal?.removeEventListener('abort', onKill);
    if (sockDir) await rm(sockDir, { recursive: true, force: true });
  }

  // ---- finish
  let failure: RunFailure | undefined = outcome.kind === 'fail' ? outcome.failure : undefined;
  if (!failure && hostError !== undefined) failure = { code: 'host-error', message: hostError };
  let status: unknown;
  let statusFiles: string[] = [];
  if (spec.vm.statusDisk) {
    try {
      statusFiles = await copyOutStatusDisk(P.statusDisk, path.join(runDir, 'status'));
      if (spec.expect.statusFile) status = await readStatusJson(P.statusDisk, spec.expect.statusFile);
    } catch (e) {
      const msg = e instanceof MsuError ? e.describe() : String(e);
      if (!failure) failure = { code: 'status-missing', message: `cannot read the status disk: ${msg}` };
      else warn(`cannot read the status disk: ${msg}`);
    }
  }
  if (!failure) failure = crossCheck(spec, st, status);

  const ok = failure === undefined;
  const result: RunResult = {
    id: spec.id,
    ok,
    accel,
    starts: st.starts,
    boots: st.boots,
    guestErrors: st.guestErrors,
    results: st.results,
    screendumps: st.screendumps,
    statusFiles,
    warnings,
    durationMs: Math.round(now() - t0),
  };
  if (st.shutdownReason) result.shutdownReason = st.shutdownReason;
  if (st.terminal) result.terminal = st.terminal;
  if (st.lastStep) result.lastStep = st.lastStep;
  if (status !== undefined) result.status = status;
  if (st.tpm) result.tpm = st.tpm;
  if (failure) result.failure = failure;
  emit({ type: 'finished', ok, message: failure ? failure.message : `finished after ${st.boots} boot(s)` });
  try {
    await writeFileAtomic(P.result, canonicalJson(result));
  } catch (err) {
    throw ioError(err, P.result, 'write');
  }
  return result;

  // ---- one QEMU process (with its own swtpm for vm.tpm)
  async function oneBoot(): Promise<Outcome> {
    let tpm: SwtpmProcess | undefined;
    if (spec.vm.tpm) {
      const start = st.starts + 1;
      try {
        tpm = await startSwtpm(tpmPaths, { binary: swtpmBin });
      } catch (e) {
        const msg = e instanceof MsuError ? e.message : String(e);
        return { kind: 'fail', failure: { code: 'tpm-error', message: `swtpm did not start (boot ${start}): ${msg}` }, stop: false, dumpName: 'tpm' };
      }
      runningTpm = tpm;
      emit({ type: 'swtpm-start', start, pid: tpm.pid });
      void tpm.exited.then((r) => emit({ type: 'swtpm-exit', start, exitCode: r.exitCode, signal: r.signal }));
    }
    try {
      return await qemuBoot(tpm);
    } finally {
      if (tpm) {
        // QEMU is normally gone by now; after an exception it may not be, and swtpm waits for it
        runningChild?.kill('SIGKILL');
        // swtpm --terminate leaves once QEMU is gone; stop() only signals it if it lingers
        await tpm.stop();
        runningTpm = undefined;
      }
    }
  }

  async function qemuBoot(tpm: SwtpmProcess | undefined): Promise<Outcome> {
    const start = ++st.starts;
    rmSync(qmpSocket, { force: true });
    // detached (own process group): the terminal's Ctrl-C reaches msu, which stops QEMU over QMP
    const child = spawnChild(bin, args, (d) => {
      try {
        appendFileSync(P.qemuStderr, d);
      } catch (err) {
        hostError ??= ioError(err, P.qemuStderr, 'write').describe();
      }
    });
    runningChild = child;
    emit({ type: 'qemu-start', start, pid: child.pid });
    let exited = false;
    const exitP = child.exited.then((r) => {
      exited = true;
      emit({ type: 'qemu-exit', start, exitCode: r.exitCode, signal: r.signal });
      return r;
    });
    const lastStderr = () => child.stderrTail();
    const killQemu = async () => {
      child.kill('SIGKILL'); // only the process this run spawned
      await exitP;
    };

    const ac = new AbortController();
    void exitP.then(() => ac.abort('QEMU exited'));
    let qmp: QmpClient;
    try {
      qmp = await QmpClient.connect(qmpSocket, {
        signal: ac.signal,
        connectTimeoutMs: 30_000,
        log: (dir, line) => appendFileSync(P.qmpLog, `${dir === 'out' ? '>' : '<'} ${line}\n`),
      });
    } catch (e) {
      await settlesWithin(exitP, 2000);
      await killQemu();
      tail.drain().forEach(handleItem);
      const why = lastStderr() || (e as Error).message;
      return { kind: 'fail', failure: { code: 'qemu-start', message: `QEMU did not start (boot ${start}): ${why}` }, stop: false, dumpName: 'start' };
    }

    const startT = now();
    let bootSeenAt: number | undefined;
    let lastLife = startT;
    let lastResetAt = -Infinity;
    let doneAt: number | undefined;
    let powerdownAt: number | undefined;
    let lastStatusAt = startT;
    let stopping = false;
    let decided: Outcome | undefined;
    let resolveOutcome!: (o: Outcome) => void;
    const outcomeP = new Promise<Outcome>((r) => (resolveOutcome = r));
    const decide = (o: Outcome) => {
      if (decided || stopping) return;
      decided = o;
      resolveOutcome(o);
    };
    const fail = (code: FailureCode, message: string, dumpName: string, limit?: WatchdogLimit) => {
      const failure: RunFailure = { code, message };
      if (limit) failure.limit = limit;
      decide({ kind: 'fail', failure, stop: true, dumpName });
    };

    handleItemHook = (item) => {
      if (item.kind !== 'event') return;
      lastLife = now();
      if (item.event.type === 'boot') {
        bootSeenAt = lastLife;
        if (spec.vm.rebootPolicy === 'in-place' && st.boots > to.maxBoots) {
          const message = `watchdog "maxBoots" fired: boot ${st.boots} exceeds timeouts.maxBoots = ${to.maxBoots} (reboot storm?)`;
          emit({ type: 'watchdog', limit: 'maxBoots', message });
          fail('watchdog', message, 'maxBoots', 'maxBoots');
        }
      }
      if ((item.event.type === 'done' || item.event.type === 'error') && doneAt === undefined) doneAt = lastLife;
    };

    qmp.onEvent((ev: QmpEvent) => {
      try {
        onQmpEvent(ev);
      } catch (err) {
        hostError ??= `internal error handling QMP event ${ev.event}: ${(err as Error)?.message ?? String(err)}`;
      }
    });
    const onQmpEvent = (ev: QmpEvent): void => {
      emit({ type: 'qmp', event: ev.event, data: ev.data });
      const reason = typeof ev.data.reason === 'string' ? ev.data.reason : undefined;
      switch (ev.event) {
        case 'SHUTDOWN':
          st.shutdownReason = reason;
          if (reason === 'guest-reset') decide({ kind: 'reset' });
          else if (reason === 'guest-shutdown') decide({ kind: 'shutdown' });
          else fail('unexpected-shutdown', `QEMU shut down for a reason the runner did not cause: ${reason ?? 'unknown'} (boot ${start})`, 'shutdown');
          break;
        case 'RESET': {
          // in-place reboots: one guest reboot can produce two RESET events ~0.1 s apart;
          // a second RESET counts only if the guest booted in between or enough time passed
          if (ev.data.guest !== true || spec.vm.rebootPolicy !== 'in-place') break;
          // the guest wrote its lines before resetting: read them first so bootSeenAt is current
          try {
            tail.poll().forEach(handleItem);
          } catch {
            /* the tick reports read errors */
          }
          const t = now();
          if (bootSeenAt === undefined && t - lastResetAt < 300) break;
          lastResetAt = t;
          st.resets++;
          emit({ type: 'guest-reset', boots: st.boots });
          if (st.resets + 1 > to.maxBoots) {
            const message = `watchdog "maxBoots" fired: the guest rebooted ${st.resets} times and timeouts.maxBoots = ${to.maxBoots} allows no further boot (reboot storm?)`;
            emit({ type: 'watchdog', limit: 'maxBoots', message });
            fail('watchdog', message, 'maxBoots', 'maxBoots');
          }
          bootSeenAt = undefined;
          lastLife = t;
          break;
        }
        case 'GUEST_PANICKED':
          fail('guest-panicked', `the guest panicked (boot ${start}): ${JSON.stringify(ev.data.info ?? ev.data)}`, 'panic');
          break;
        case 'BLOCK_IO_ERROR':
          fail('block-io-error', `disk I/O error on ${String(ev.data.device ?? ev.data['node-name'] ?? '?')} (${String(ev.data.reason ?? ev.data.operation ?? 'unknown')}); is the host disk full?`, 'io-error');
          break;
        case 'STOP':
          if (stopping) break;
          // The VM paused without us asking: find out why (KVM internal error, I/O error …).
          void delay(1000).then(async () => {
            if (stopping || decided || !qmp.isOpen) return;
            try {
              const s = await qmp.execute<{ running: boolean; status: string }>('query-status');
              if (!s.running && s.status !== 'shutdown') fail('vm-stopped', `the VM stopped by itself (status "${s.status}", boot ${start})${lastStderr() ? `: ${lastStderr()}` : ''}`, 'stopped');
            } catch {
              /* QEMU went away: the exit handler decides */
            }
          });
          break;
      }
    };

    if (tpm) {
      void tpm.exited.then(async (r) => {
        // when QEMU is going away too, its own exit (or SHUTDOWN) is the story, not swtpm's
        await settlesWithin(exitP, 1000);
        if (exited) return;
        const why = logTail(tpmPaths.log);
        fail('tpm-error', `swtpm exited while QEMU was running (boot ${start}, exit code ${r.exitCode ?? r.signal ?? 'none'})${why ? `: ${why}` : ''}`, 'tpm');
      });
      try {
        const devices = await qmp.execute<Array<{ model?: string; options?: { type?: string } }>>('query-tpm');
        emit({ type: 'tpm', start, devices });
        const d = devices[0];
        if (!d) fail('tpm-error', `QEMU reports no TPM device (query-tpm is empty, boot ${start})`, 'tpm');
        else st.tpm ??= { model: String(d.model ?? '?'), backend: String(d.options?.type ?? '?') };
      } catch (e) {
        warn(`query-tpm failed (boot ${start}): ${(e as Error).message}`);
      }
    }

    void exitP.then(async () => {
      // let a SHUTDOWN event still queued on the socket win over "exited"
      await settlesWithin(qmp.closed, 500);
      await delay(50);
      fail('qemu-exited', `QEMU exited unexpectedly (boot ${start}, exit code ${(await exitP).exitCode ?? 'none'})${lastStderr() ? `: ${lastStderr()}` : ''}`, 'exit');
    });
    const onAbort = () => {
      emit({ type: 'abort', hard: false, reason: typeof opts.signal?.reason === 'string' ? opts.signal.reason : 'cancelled' });
      fail('aborted', `the run was cancelled${abortReason(opts.signal!)}`, 'aborted');
    };
    if (opts.signal?.aborted) onAbort();
    opts.signal?.addEventListener('abort', onAbort, { once: true });

    const statusEvery = (opts.statusEverySec ?? 5) * 1000;
    const tick = setInterval(() => {
      try {
        watch();
      } catch (err) {
        hostError ??= `internal error in the watchdog: ${(err as Error)?.message ?? String(err)}`;
      }
      if (hostError !== undefined) fail('host-error', hostError, 'host-error');
    }, opts.tickMs ?? 200);
    /** The watchdog that would fire first from here on, mirroring the checks in watch(). */
    const nextDeadline = (t: number): NextDeadline | undefined => {
      const c: Array<[WatchdogLimit, number]> = [
        ['total', runStart + to.totalSec * 1000],
        ['perBoot', startT + to.perBootSec * 1000],
      ];
      if (bootSeenAt === undefined && doneAt === undefined) c.push(['boot', startT + to.bootSec * 1000]);
      if (bootSeenAt !== undefined && doneAt === undefined) c.push(['heartbeat', lastLife + to.heartbeatSec * 1000]);
      if (doneAt !== undefined) c.push(['poweroffAfterDone', (powerdownAt ?? doneAt + to.graceSec * 1000) + to.graceSec * 1000]);
      c.sort((x, y) => x[1] - y[1]);
      const [limit, at] = c[0]!;
      return { limit, remainingSec: Math.max(0, Math.round((at - t) / 1000)) };
    };
    const watch = (): void => {
      try {
        tail.poll().forEach(handleItem);
      } catch (e) {
        warn(e instanceof MsuError ? e.describe() : String(e));
      }
      const t = now();
      const fire = (limit: WatchdogLimit, message: string) => {
        emit({ type: 'watchdog', limit, message });
        fail('watchdog', message, limit, limit);
      };
      if (t - runStart > to.totalSec * 1000) fire('total', `watchdog "total" fired: the run took longer than ${fmtSec(to.totalSec)} (timeouts.totalSec${accel === 'tcg' ? ' × tcgFactor' : ''}), boot ${start}`);
      else if (t - startT > to.perBootSec * 1000) fire('perBoot', `watchdog "perBoot" fired: boot ${start} ran longer than ${fmtSec(to.perBootSec)} (timeouts.perBootSec${accel === 'tcg' ? ' × tcgFactor' : ''})`);
      else if (bootSeenAt === undefined && doneAt === undefined && t - startT > to.bootSec * 1000) fire('boot', `watchdog "boot" fired: no boot event from the guest within ${fmtSec(to.bootSec)} of start ${start} (timeouts.bootSec${accel === 'tcg' ? ' × tcgFactor' : ''})`);
      else if (bootSeenAt !== undefined && doneAt === undefined && t - lastLife > to.heartbeatSec * 1000) fire('heartbeat', `watchdog "heartbeat" fired: no protocol line from the guest for ${fmtSec((t - lastLife) / 1000)} in boot ${start} (timeouts.heartbeatSec = ${fmtSec(to.heartbeatSec)}); last step: ${st.lastStep ? `${st.lastStep.id} ${st.lastStep.state}` : 'none'}`);
      else if (doneAt !== undefined && powerdownAt === undefined && t - doneAt > to.graceSec * 1000) {
        // The guest said it finished but did not power off: nudge it (known bug 4).
        powerdownAt = t;
        emit({ type: 'powerdown', reason: `guest sent ${st.terminal} but did not power off within ${fmtSec(to.graceSec)}` });
        qmp.systemPowerdown().catch(() => undefined);
      } else if (powerdownAt !== undefined && t - powerdownAt > to.graceSec * 1000) {
        fire('poweroffAfterDone', `watchdog "poweroffAfterDone" fired: the guest sent ${st.terminal} but did not power off, not even after system_powerdown (${fmtSec(to.graceSec)} each, timeouts.graceSec)`);
      }
      if (t - lastStatusAt >= statusEvery && !decided) {
        lastStatusAt = t;
        const ev: Extract<RunEventBody, { type: 'status' }> = {
          type: 'status',
          start,
          boots: st.boots,
          bootAgeSec: Math.round((t - startT) / 1000),
          heartbeatAgeSec: bootSeenAt === undefined ? null : Math.round((t - lastLife) / 1000),
        };
        if (st.lastStep) ev.step = `${st.lastStep.name} (${st.lastStep.state})`;
        if (st.lastPct !== undefined) ev.pct = st.lastPct;
        const next = nextDeadline(t);
        if (next) ev.deadline = next;
        emit(ev);
      }
    };

    try {
      await qmp.cont();
    } catch (e) {
      if (!decided) fail('qemu-start', `QEMU did not start the guest (boot ${start}): ${(e as Error).message}`, 'start');
    }
    const o = await outcomeP;
    clearInterval(tick);
    opts.signal?.removeEventListener('abort', onAbort);
    stopping = true;

    if (o.kind === 'fail' && o.stop) {
      // a crashed guest is paused (-action panic=pause) and cannot answer the power button
      // a crashed guest cannot answer the power button; a cancelled run is not asked, it is quit
      await stopVm(qmp, o.dumpName, start, exited ? undefined : exitP, o.failure.code !== 'guest-panicked' && o.failure.code !== 'aborted');
    } else {
      // guest-reset / guest-shutdown: QEMU exits by itself
      await settlesWithin(exitP, 10_000);
      if (!exited) {
        warn(`QEMU did not exit after ${st.shutdownReason} (boot ${start}); quitting it`);
        await qmp.quit().catch(() => undefined);
        await settlesWithin(exitP, 3000);
      }
    }
    await killQemu();
    qmp.close();
    // last lines written just before the power-off / reset
    tail.drain().forEach(handleItem);
    handleItemHook = undefined;
    return o;
  }

  async function stopVm(qmp: QmpClient, dumpName: string, start: number, running: Promise<unknown> | undefined, powerdown: boolean): Promise<void> {
    if (!running || !qmp.isOpen) return;
    mkdirSync(P.screendumps, { recursive: true });
    const rel = `screendumps/${String(start).padStart(2, '0')}-${dumpName}.${png ? 'png' : 'ppm'}`;
    try {
      await qmp.screendump(path.join(runDir, rel), png);
      st.screendumps.push(rel);
      emit({ type: 'screendump', file: rel });
    } catch (e) {
      warn(`screendump failed: ${(e as Error).message}`);
    }
    if (powerdown && to.graceSec > 0 && qmp.isOpen) {
      emit({ type: 'powerdown', reason: dumpName });
      await qmp.systemPowerdown().catch(() => undefined);
      await settlesWithin(running, to.graceSec * 1000);
    }
    if (qmp.isOpen) {
      await qmp.quit(3000).catch(() => undefined);
      await settlesWithin(running, 3000);
    }
  }

  function handleItem(item: SerialItem): void {
    if (item.kind === 'warning') {
      emit({ type: 'protocol-warning', line: item.line, message: item.message });
      return;
    }
    const ev = item.event;
    if (ev.type === 'boot') st.boots++;
    else if (ev.type === 'step') st.lastStep = { id: ev.id, name: ev.name, state: ev.state };
    else if (ev.type === 'progress') st.lastPct = ev.pct;
    else if (ev.type === 'result') st.results.push(ev.data);
    else if (ev.type === 'error') {
      st.guestErrors.push({ code: ev.code, message: ev.message });
      st.terminal = 'error';
    } else if (ev.type === 'done') {
      st.terminal = 'done';
      st.doneOk = ev.ok;
    }
    emit({ type: 'guest', boot: st.boots, event: ev });
    handleItemHook?.(item);
  }
}

function prepareRunDir(runDir: string, shown: string): void {
  try {
    mkdirSync(runDir, { recursive: true });
  } catch (err) {
    throw ioError(err, shown, 'create');
  }
  const old = readdirSync(runDir).filter((f) => ['serial.log', 'events.jsonl', 'result.json', 'qmp.log'].includes(f));
  if (old.length > 0) throw new UsageError(`run directory already holds a run (${old.join(', ')}); choose a new directory`, { file: shown });
}

/** Completion = terminal serial event + status file + guest-shutdown; any disagreement fails the run. */
function crossCheck(
  spec: RunSpec,
  st: { shutdownReason?: string | undefined; terminal?: 'done' | 'error' | undefined; doneOk?: boolean | undefined; guestErrors: Array<{ code: string; message: string }> },
  status: unknown,
): RunFailure | undefined {
  if (st.shutdownReason !== 'guest-shutdown') return { code: 'unexpected-shutdown', message: `the run ended without a guest power-off (last shutdown reason: ${st.shutdownReason ?? 'none'})` };
  if (st.guestErrors.length > 0) {
    const e = st.guestErrors[st.guestErrors.length - 1]!;
    return { code: 'guest-error', message: `the guest reported an error: ${e.code}: ${e.message}` };
  }
  if (st.terminal !== 'done') return { code: 'no-done', message: 'the guest powered off without sending done (crash, or a shutdown the runner did not ask for?)' };
  if (st.doneOk === false) return { code: 'guest-error', message: 'the guest sent done with ok=false' };
  if (spec.expect.statusFile) {
    if (status === undefined) return { code: 'status-missing', message: `the guest sent done but left no ${spec.expect.statusFile} on the status disk` };
    const s = status as Record<string, unknown>;
    const failed = typeof s === 'object' && s !== null && (s.ok === false || s.state === 'failed');
    if (failed) return { code: 'status-mismatch', message: `the guest sent done but ${spec.expect.statusFile} says it failed${typeof s.error === 'string' ? `: ${s.error}` : ''}` };
  }
  return undefined;
}

export interface CompactOptions {
  /** qcow2 compression (zlib): much smaller release artifacts, slower to write. */
  compress?: boolean;
  /** The run that produced `src`: compaction is refused unless it ended in a clean guest power-off. */
  after?: RunResult;
}

/** Flatten an overlay chain into a standalone qcow2 (`qemu-img convert`); the output has no backing file. */
export async function compactImage(src: string, dst: string, opts: CompactOptions = {}): Promise<void> {
  if (opts.after && opts.after.shutdownReason !== 'guest-shutdown') {
    throw new MsuError('E_VM_COMPACT_UNCLEAN', `refusing to compact: the run ended with "${opts.after.shutdownReason ?? 'no shutdown'}", not a clean guest power-off; the image may be inconsistent`, { file: src }, 'runtime');
  }
  if (path.resolve(src) === path.resolve(dst)) throw new UsageError('compaction output must differ from the input', { file: dst });
  const args = ['convert', '-O', 'qcow2'];
  if (opts.compress) args.push('-c');
  // never a half-written image under the final name
  const tmp = path.join(path.dirname(path.resolve(dst)), `.${path.basename(dst)}.msu-tmp-${process.pid}`);
  try {
    await runTool('qemu-img', [...args, src, tmp], { file: src });
    await rename(tmp, dst);
  } catch (err) {
    await rm(tmp, { force: true });
    throw err instanceof MsuError ? err : ioError(err, dst, 'write');
  }
}
