/**
 * What a run reports: its events (events.jsonl, onEvent) and its result (result.json).
 * Types only; src/vm/runner.ts re-exports them.
 */
import type { GuestEvent } from './protocol.js';
import type { Timeouts } from './spec.js';
import type { NextDeadline, WatchdogLimit } from './watchdogs.js';

export type { NextDeadline, WatchdogLimit } from './watchdogs.js';


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
