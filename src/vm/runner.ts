/**
 * The host-side VM runner: prepare a run directory, boot QEMU (one process per boot with
 * `-action reboot=shutdown`, or one process for the whole run with in-place reboots),
 * follow QMP events and the serial protocol, enforce the watchdogs, and finish with a
 * cross-check of what the guest said, what it left on the status disk, and how it stopped.
 *
 * Concerns, one module each: the state machine of a QEMU process (boot-machine.ts), the
 * watchdogs (watchdogs.ts), the processes (child.ts, tpm.ts), QMP (qmp.ts), the serial
 * protocol (protocol.ts) and the run directory (run-artifacts.ts). This file wires them up.
 *
 * Run directory (all names fixed; content deterministic except where noted):
 *   spec.json        the validated spec (canonical JSON, written atomically)
 *   serial.log       everything the guest wrote to COM1, all boots appended
 *   qmp.log          QMP traffic, one JSON per line, ">" sent / "<" received (event timestamps dropped)
 *   qemu-stderr.log  QEMU's own diagnostics
 *   events.jsonl     the run's event stream (carries `t`, milliseconds since the run started)
 *   screendumps/     NN-<reason>.png|ppm taken when a watchdog or failure stopped the VM
 *   status/          files copied off the status disk after the run
 *   tpm/, swtpm.log  swtpm's state (vm.tpm; kept across boots) and its log
 *   result.json      RunResult (carries `durationMs`; written atomically)
 * Durations appear only in events.jsonl and result.json.
 */
import { writeThroughTemp } from '../util/fsout.js';
import { existsSync, rmSync } from 'node:fs';
import { copyFile, mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { ioError, MsuError, UsageError } from '../errors.js';
import { runTool } from '../util/exec.js';
import { canonicalJson } from '../util/json.js';
import { delay, settlesWithin } from '../util/timers.js';
import { checkNewStart, initialBootState, step, type BootConfig, type BootEvent, type Outcome, type RunView } from './boot-machine.js';
import { spawnChild, type RunChild } from './child.js';
import { compareVersions, ovmfPaths, probeAccel, probeQemu, QEMU_BINARY, requireDevices, type QemuFeatures } from './features.js';
import { SerialTail, type SerialItem } from './protocol.js';
import { QmpClient, type QmpEvent } from './qmp.js';
import { qemuArgs, type OvmfPaths } from './qemu-args.js';
import { RunArtifacts } from './run-artifacts.js';
import type { RunEvent, RunEventBody, RunFailure, RunResult } from './run-types.js';
import { applyTimeoutOverrides, effectiveTimeouts, type RunSpec, type TimeoutOverrides, type Timeouts } from './spec.js';
import { copyOutStatusDisk, createStatusDisk, readStatusJson } from './status-disk.js';
import { checkSwtpm, logTail, startSwtpm, SWTPM_BINARY, swtpmArgs, type SwtpmProcess } from './tpm.js';

export type { FailureCode, NextDeadline, RunEvent, RunEventBody, RunFailure, RunResult, WatchdogLimit } from './run-types.js';

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
  const art = RunArtifacts.prepare(runDir, opts.runDir);
  const P = art.paths;

  let hostError: string | undefined;
  const emit = (e: RunEventBody): void => {
    const full = { t: Math.round(now() - t0), ...e } as RunEvent;
    // never throw from here: emit runs inside timers and socket handlers, where a throw would
    // take the process down and leave QEMU behind; the boot loop turns hostError into a failure
    try {
      art.appendEvent(full);
    } catch (err) {
      hostError ??= err instanceof MsuError ? err.describe() : String(err);
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
  await art.writeSpec(specIn);
  const { accel, to, args, png, qmpSocket, tpmPaths, sockDir } = await prepareHost(spec, opts, art, bin, swtpmBin, emit, warn);

  // ---- what the run learns, across QEMU processes
  const tail = new SerialTail(P.serialLog);
  const st = {
    starts: 0,
    shutdownReason: undefined as string | undefined,
    doneOk: undefined as boolean | undefined,
    guestErrors: [] as Array<{ code: string; message: string }>,
    results: [] as Array<Record<string, unknown>>,
    screendumps: [] as string[],
    tpm: undefined as { model: string; backend: string } | undefined,
  };
  const view: RunView = { periods: 0, boots: 0 };
  /** The current QEMU process's dispatcher, while one runs. */
  let dispatch: ((ev: BootEvent) => void) | undefined;
  let runningQemu: RunChild | undefined;
  let runningTpm: SwtpmProcess | undefined;

  // the second Ctrl-C: no more asking, kill what this run started
  const onKill = () => {
    emit({ type: 'abort', hard: true, reason: reasonOf(opts.killSignal) || 'killed' });
    runningQemu?.kill('SIGKILL');
    runningTpm?.kill();
    dispatch?.({ kind: 'abort', reason: reasonOf(opts.signal) || reasonOf(opts.killSignal) });
  };
  opts.killSignal?.addEventListener('abort', onKill, { once: true });

  /** Serial protocol: run-level bookkeeping, the event, then the state machine. */
  const handleItem = (item: SerialItem): void => {
    if (item.kind === 'warning') {
      emit({ type: 'protocol-warning', line: item.line, message: item.message });
      return;
    }
    const ev = item.event;
    if (ev.type === 'boot') view.boots++;
    else if (ev.type === 'step') view.lastStep = { id: ev.id, name: ev.name, state: ev.state };
    else if (ev.type === 'progress') view.lastPct = ev.pct;
    else if (ev.type === 'result') st.results.push(ev.data);
    else if (ev.type === 'error') {
      st.guestErrors.push({ code: ev.code, message: ev.message });
      view.terminal = 'error';
    } else if (ev.type === 'done') {
      view.terminal = 'done';
      st.doneOk = ev.ok;
    }
    emit({ type: 'guest', boot: view.boots, event: ev });
    dispatch?.({ kind: 'guest', event: ev });
  };
  const pollSerial = (): void => {
    try {
      tail.poll().forEach(handleItem);
    } catch (e) {
      warn(e instanceof MsuError ? e.describe() : String(e));
    }
  };

  // ---- boot loop
  const runStart = now();
  let outcome: Outcome;
  try {
    for (;;) {
      const stopSignal = opts.signal?.aborted ? opts.signal : opts.killSignal?.aborted ? opts.killSignal : undefined;
      if (stopSignal) {
        const reason = reasonOf(stopSignal);
        outcome = { kind: 'fail', failure: { code: 'aborted', message: `the run was cancelled${reason ? ` (${reason})` : ''}` }, stop: false, dumpName: 'aborted' };
        break;
      }
      const refused = checkNewStart(view.periods, to);
      if (refused) {
        if (refused.kind === 'fail') emit({ type: 'watchdog', limit: 'maxBoots', message: refused.failure.message });
        outcome = refused;
        break;
      }
      view.periods++;
      const o = await oneStart();
      if (o.kind === 'reset' && hostError === undefined) continue;
      outcome = o;
      break;
    }
  } finally {
    // an exception in the loop must not leave our QEMU or swtpm running
    runningQemu?.kill('SIGKILL');
    runningTpm?.kill();
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
  if (!failure) failure = crossCheck(spec, { ...st, terminal: view.terminal }, status);

  const ok = failure === undefined;
  const result: RunResult = {
    id: spec.id,
    ok,
    accel,
    starts: st.starts,
    boots: view.boots,
    guestErrors: st.guestErrors,
    results: st.results,
    screendumps: st.screendumps,
    statusFiles,
    warnings,
    durationMs: Math.round(now() - t0),
  };
  if (st.shutdownReason) result.shutdownReason = st.shutdownReason;
  if (view.terminal) result.terminal = view.terminal;
  if (view.lastStep) result.lastStep = view.lastStep;
  if (status !== undefined) result.status = status;
  if (st.tpm) result.tpm = st.tpm;
  if (failure) result.failure = failure;
  emit({ type: 'finished', ok, message: failure ? failure.message : `finished after ${view.boots} boot(s)` });
  await art.writeResult(result);
  return result;

  // ---- one QEMU start, with its own swtpm for vm.tpm
  async function oneStart(): Promise<Outcome> {
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
      return await qemuProcess(tpm);
    } finally {
      if (tpm) {
        // QEMU is normally gone by now; after an exception it may not be, and swtpm waits for it
        runningQemu?.kill('SIGKILL');
        // swtpm --terminate leaves once QEMU is gone; stop() only signals it if it lingers
        await tpm.stop();
        runningTpm = undefined;
      }
    }
  }

  /** One QEMU process: start it, drive the state machine until it decides, then stop it. */
  async function qemuProcess(tpm: SwtpmProcess | undefined): Promise<Outcome> {
    const start = ++st.starts;
    rmSync(qmpSocket, { force: true });
    // detached (own process group): the terminal's Ctrl-C reaches msu, which stops QEMU over QMP
    const child = spawnChild(bin, args, (d) => {
      try {
        art.appendQemuStderr(d);
      } catch (err) {
        hostError ??= err instanceof MsuError ? err.describe() : String(err);
      }
    });
    runningQemu = child;
    emit({ type: 'qemu-start', start, pid: child.pid });
    const exitP = child.exited.then((r) => {
      emit({ type: 'qemu-exit', start, exitCode: r.exitCode, signal: r.signal });
      return r;
    });
    const killQemu = async () => {
      child.kill('SIGKILL'); // only the process this run spawned
      await exitP;
      runningQemu = undefined;
    };

    const ac = new AbortController();
    void exitP.then(() => ac.abort('QEMU exited'));
    let qmp: QmpClient;
    try {
      qmp = await QmpClient.connect(qmpSocket, { signal: ac.signal, connectTimeoutMs: 30_000, log: (dir, line) => art.appendQmp(dir, line) });
    } catch (e) {
      await settlesWithin(exitP, 2000);
      await killQemu();
      tail.drain().forEach(handleItem);
      const why = child.stderrTail() || (e as Error).message;
      return { kind: 'fail', failure: { code: 'qemu-start', message: `QEMU did not start (boot ${start}): ${why}` }, stop: false, dumpName: 'start' };
    }

    // ---- the state machine for this process
    const cfg: BootConfig = { timeouts: to, accel, rebootPolicy: spec.vm.rebootPolicy, start, runStart, statusEveryMs: (opts.statusEverySec ?? 5) * 1000 };
    const state = initialBootState(cfg, now());
    let resolveOutcome!: (o: Outcome) => void;
    const outcomeP = new Promise<Outcome>((r) => (resolveOutcome = r));
    const run = (ev: BootEvent): void => {
      for (const fx of step(state, ev, now(), cfg, view)) {
        if (fx.do === 'emit') emit(fx.event);
        else if (fx.do === 'powerdown') qmp.systemPowerdown().catch(() => undefined);
        else resolveOutcome(fx.outcome);
      }
    };
    dispatch = (ev) => {
      try {
        run(ev);
      } catch (err) {
        hostError ??= `internal error handling ${ev.kind}: ${(err as Error)?.message ?? String(err)}`;
      }
    };

    qmp.onEvent((ev: QmpEvent) => onQmpEvent(ev, qmp));
    if (tpm) {
      void tpm.exited.then(async (r) => {
        // when QEMU is going away too, its own exit (or SHUTDOWN) is the story, not swtpm's
        await settlesWithin(exitP, 1000);
        if (child.hasExited) return;
        dispatch?.({ kind: 'tpm-exited', exitCode: r.exitCode ?? r.signal ?? 'none', why: logTail(tpmPaths.log) });
      });
      await queryTpm(qmp, start);
    }
    void exitP.then(async (r) => {
      // let a SHUTDOWN event still queued on the socket win over "exited"
      await settlesWithin(qmp.closed, 500);
      await delay(50);
      dispatch?.({ kind: 'qemu-exited', exitCode: r.exitCode, why: child.stderrTail() });
    });
    const onAbort = () => {
      emit({ type: 'abort', hard: false, reason: reasonOf(opts.signal) || 'cancelled' });
      dispatch?.({ kind: 'abort', reason: reasonOf(opts.signal) });
    };
    if (opts.signal?.aborted) onAbort();
    opts.signal?.addEventListener('abort', onAbort, { once: true });
    const tick = setInterval(() => {
      pollSerial();
      dispatch?.({ kind: 'tick' });
      if (hostError !== undefined) dispatch?.({ kind: 'host-error', message: hostError });
    }, opts.tickMs ?? 200);

    try {
      await qmp.cont();
    } catch (e) {
      dispatch({ kind: 'start-failed', message: `QEMU did not start the guest (boot ${start}): ${(e as Error).message}` });
    }
    const o = await outcomeP;
    clearInterval(tick);
    opts.signal?.removeEventListener('abort', onAbort);

    if (o.kind === 'fail' && o.stop) {
      // a crashed guest cannot answer the power button; a cancelled run is not asked, it is quit
      const powerdown = o.failure.code !== 'guest-panicked' && o.failure.code !== 'aborted';
      await stopQemu(qmp, o.dumpName, start, child.hasExited ? undefined : exitP, powerdown);
    } else {
      // guest-reset / guest-shutdown: QEMU exits by itself
      await settlesWithin(exitP, 10_000);
      if (!child.hasExited) {
        warn(`QEMU did not exit after ${st.shutdownReason} (boot ${start}); quitting it`);
        await qmp.quit().catch(() => undefined);
        await settlesWithin(exitP, 3000);
      }
    }
    await killQemu();
    qmp.close();
    // last lines written just before the power-off / reset
    tail.drain().forEach(handleItem);
    dispatch = undefined;
    return o;
  }

  /** QMP events: logged, recorded, then turned into machine events. */
  function onQmpEvent(ev: QmpEvent, qmp: QmpClient): void {
    emit({ type: 'qmp', event: ev.event, data: ev.data });
    const reason = typeof ev.data.reason === 'string' ? ev.data.reason : undefined;
    switch (ev.event) {
      case 'SHUTDOWN':
        st.shutdownReason = reason; // also while stopping: "host-qmp-quit" is how a stop ended
        dispatch?.({ kind: 'shutdown', reason });
        break;
      case 'RESET':
        if (ev.data.guest !== true || spec.vm.rebootPolicy !== 'in-place') break;
        // the guest wrote its lines before resetting: read them first so the machine has its boot
        pollSerial();
        dispatch?.({ kind: 'reset' });
        break;
      case 'GUEST_PANICKED':
        dispatch?.({ kind: 'panic', info: ev.data.info ?? ev.data });
        break;
      case 'BLOCK_IO_ERROR':
        dispatch?.({ kind: 'io-error', device: String(ev.data.device ?? ev.data['node-name'] ?? '?'), reason: String(ev.data.reason ?? ev.data.operation ?? 'unknown') });
        break;
      case 'STOP':
        // the VM paused without us asking? find out why (KVM internal error, I/O error …)
        void delay(1000).then(async () => {
          if (!dispatch || !qmp.isOpen || runningQemu?.hasExited !== false) return;
          try {
            const s = await qmp.execute<{ running: boolean; status: string }>('query-status');
            if (!s.running && s.status !== 'shutdown') dispatch?.({ kind: 'vm-stopped', status: s.status, why: runningQemu?.stderrTail() ?? '' });
          } catch {
            /* QEMU went away: the exit handler decides */
          }
        });
        break;
    }
  }

  /** vm.tpm: record QMP `query-tpm` (proof the TPM is attached); an empty answer fails the run. */
  async function queryTpm(qmp: QmpClient, start: number): Promise<void> {
    try {
      const devices = await qmp.execute<Array<{ model?: string; options?: { type?: string } }>>('query-tpm');
      emit({ type: 'tpm', start, devices });
      const d = devices[0];
      if (!d) return dispatch?.({ kind: 'tpm-missing' });
      st.tpm ??= { model: String(d.model ?? '?'), backend: String(d.options?.type ?? '?') };
    } catch (e) {
      warn(`query-tpm failed (boot ${start}): ${(e as Error).message}`);
    }
  }

  /** Screendump, then (unless told not to) the power button and `grace`, then `quit`, then the caller's SIGKILL. */
  async function stopQemu(qmp: QmpClient, dumpName: string, start: number, running: Promise<unknown> | undefined, powerdown: boolean): Promise<void> {
    if (!running || !qmp.isOpen || opts.killSignal?.aborted) return;
    const dump = art.screendump(start, dumpName, png);
    try {
      await qmp.screendump(dump.abs, png);
      st.screendumps.push(dump.rel);
      emit({ type: 'screendump', file: dump.rel });
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
}

/** What the boot loop needs from preparation. */
interface HostSetup {
  accel: 'kvm' | 'tcg';
  to: Timeouts;
  args: string[];
  /** QEMU can write PNG screendumps (7.1+). */
  png: boolean;
  qmpSocket: string;
  tpmPaths: { stateDir: string; socket: string; log: string };
  /** A private temp dir for sockets whose paths would be too long; removed after the run. */
  sockDir: string | undefined;
}

/** Probe QEMU and the accelerator, settle the deadlines, and make the disks, status disk, inputs ISO and sockets ready. */
async function prepareHost(spec: RunSpec, opts: RunOptions, art: RunArtifacts, bin: string, swtpmBin: string, emit: (e: RunEventBody) => void, warn: (m: string) => void): Promise<HostSetup> {
  const P = art.paths;
  const runDir = art.runDir;
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

  return { accel, to, args, png, qmpSocket, tpmPaths, sockDir };
}

/** An abort reason worth showing ("SIGINT"), or ''. */
function reasonOf(sig: AbortSignal | undefined): string {
  return sig?.aborted && typeof sig.reason === 'string' ? sig.reason : '';
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
  await writeThroughTemp(dst, async (tmp) => {
    await runTool('qemu-img', [...args, src, tmp], { file: src });
  });
}
