import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

/**
 * Stand-ins for guestfish and hivexget on PATH. guestfish logs the backend and settings it was
 * run with; in mode 'launch' it fails as libguestfs does when qemu aborts under KVM unless told
 * to use TCG (force_tcg), in mode 'other' it fails with another error; otherwise it prints the
 * inspection of a plain amd64 image (src/vm/wua.ts, inspectionScript).
 */
export interface FakeGuestfs {
  setMode(mode: 'launch' | 'other'): void;
  /** The backend and settings of each run since the last clear() ("direct", "direct force_tcg"). */
  runs(): string[];
  clear(): void;
  /** `fn` with the stand-ins first on PATH and no LIBGUESTFS_* settings of the caller's. */
  with<T>(fn: () => Promise<T>): Promise<T>;
  dir: string;
  remove(): void;
}

export function fakeGuestfs(): FakeGuestfs {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'msu-guestfs-'));
  const log = path.join(dir, 'log');
  const mode = path.join(dir, 'mode');
  writeFileSync(mode, 'launch');
  writeFileSync(log, '');
  const script = (name: string, body: string) => {
    writeFileSync(path.join(dir, name), `#!/bin/sh\n${body}\n`);
    chmodSync(path.join(dir, name), 0o755);
  };
  script('guestfish', [
    'cat >/dev/null',
    `echo "$LIBGUESTFS_BACKEND $LIBGUESTFS_BACKEND_SETTINGS" >> ${log}`,
    `if [ "$(cat ${mode})" = other ]; then echo "guestfish: no such file: disk.img" >&2; exit 1; fi`,
    'case ":$LIBGUESTFS_BACKEND_SETTINGS:" in *:force_tcg:*) ;; *) echo "libguestfs: error: /usr/bin/qemu-system-x86_64 killed by signal 6 (Aborted)." >&2; echo "libguestfs: error: guestfs_launch failed." >&2; exit 1;; esac',
    'printf "@@msu-arch@@\\nx86_64\\n@@msu-panther@@\\n@@msu-hiberfil@@\\n@@msu-end@@\\n"',
  ].join('\n'));
  script('hivexget', 'exit 1');
  return {
    dir,
    setMode: (m) => writeFileSync(mode, m),
    runs: () => readFileSync(log, 'utf8').split('\n').filter(Boolean).map((l) => l.trim()),
    clear: () => writeFileSync(log, ''),
    async with(fn) {
      const saved = { PATH: process.env.PATH, B: process.env.LIBGUESTFS_BACKEND, S: process.env.LIBGUESTFS_BACKEND_SETTINGS };
      process.env.PATH = `${dir}:${saved.PATH}`;
      delete process.env.LIBGUESTFS_BACKEND;
      delete process.env.LIBGUESTFS_BACKEND_SETTINGS;
      try {
        return await fn();
      } finally {
        process.env.PATH = saved.PATH;
        if (saved.B !== undefined) process.env.LIBGUESTFS_BACKEND = saved.B;
        if (saved.S !== undefined) process.env.LIBGUESTFS_BACKEND_SETTINGS = saved.S;
      }
    },
    remove: () => rmSync(dir, { recursive: true, force: true }),
  };
}
