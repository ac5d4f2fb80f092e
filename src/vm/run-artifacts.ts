/**
 * The run directory's files, written through one place: logs are appended as things
 * happen (serial.log is QEMU's own), documents are written atomically (src/util/fsout.ts),
 * so a reader never sees half a spec.json or result.json, not even after Ctrl-C.
 */
import { appendFileSync, mkdirSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { ioError, UsageError } from '../errors.js';
import { writeFileAtomic } from '../util/fsout.js';
import { canonicalJson } from '../util/json.js';
import { runPaths } from './qemu-args.js';

/** Files whose presence means the directory already holds a run. */
const RUN_MARKERS = ['serial.log', 'events.jsonl', 'result.json', 'qmp.log'];

export class RunArtifacts {
  readonly paths: ReturnType<typeof runPaths>;

  private constructor(readonly runDir: string) {
    this.paths = runPaths(runDir);
  }

  /** Create (or accept an empty-of-runs) run directory; `shown` is the name the user gave. */
  static prepare(runDir: string, shown: string): RunArtifacts {
    try {
      mkdirSync(runDir, { recursive: true });
    } catch (err) {
      throw ioError(err, shown, 'create');
    }
    const old = readdirSync(runDir).filter((f) => RUN_MARKERS.includes(f));
    if (old.length > 0) throw new UsageError(`run directory already holds a run (${old.join(', ')}); choose a new directory`, { file: shown });
    return new RunArtifacts(runDir);
  }

  /** One event line; throws an IoError naming events.jsonl. */
  appendEvent(event: unknown): void {
    this.append(this.paths.events, JSON.stringify(event) + '\n');
  }

  /** QMP traffic: ">" sent, "<" received. Best effort: a lost log line never stops a run. */
  appendQmp(dir: 'in' | 'out', line: string): void {
    try {
      this.append(this.paths.qmpLog, `${dir === 'out' ? '>' : '<'} ${line}\n`);
    } catch {
      /* the events carry the QMP events that matter */
    }
  }

  appendQemuStderr(chunk: Uint8Array): void {
    this.append(this.paths.qemuStderr, chunk);
  }

  writeSpec(spec: unknown): Promise<void> {
    return writeFileAtomic(this.paths.spec, canonicalJson(spec));
  }

  writeResult(result: unknown): Promise<void> {
    return writeFileAtomic(this.paths.result, canonicalJson(result));
  }

  /** Where the screendump for a stop goes: `screendumps/NN-reason.png|ppm` (relative, absolute). */
  screendump(start: number, reason: string, png: boolean): { rel: string; abs: string } {
    mkdirSync(this.paths.screendumps, { recursive: true });
    const rel = `screendumps/${String(start).padStart(2, '0')}-${reason}.${png ? 'png' : 'ppm'}`;
    return { rel, abs: path.join(this.runDir, rel) };
  }

  private append(file: string, data: string | Uint8Array): void {
    try {
      appendFileSync(file, data);
    } catch (err) {
      throw ioError(err, file, 'write');
    }
  }
}
