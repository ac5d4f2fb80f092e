/**
 * Exit codes as docs/cli.md documents them, set only through the EXIT constants, and external
 * tool failures translated into our error kinds; stdout closed by its reader ends output quietly.
 */
import { mkdirSync, readdirSync, readFileSync, truncateSync, writeFileSync, mkdtempSync, rmSync, existsSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { main } from '../../src/cli/main.js';
import { buildCabinet } from '../../src/cab/writer.js';
import { runTool } from '../../src/util/exec.js';
import { runCli } from '../helpers/cli.js';
import { hasTool, skipNote } from '../helpers/tools.js';

const SRC_CLI = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../src/cli');
const tmp = mkdtempSync(path.join(os.tmpdir(), 'msu-exit-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe('exit codes in src/cli go through the EXIT constants', () => {
  it('no command sets a numeric exit code or calls process.exit', () => {
    const files = [path.join(SRC_CLI, 'main.ts'), path.join(SRC_CLI, 'context.ts'), ...readdirSync(path.join(SRC_CLI, 'commands')).map((f) => path.join(SRC_CLI, 'commands', f))];
    const bad: string[] = [];
    for (const f of files) {
      readFileSync(f, 'utf8').split('\n').forEach((line, i) => {
        if (/exitCode\s*=\s*\d|process\.exit\s*\(|return\s+[1-9]\d*\s*;/.test(line)) bad.push(`${path.relative(SRC_CLI, f)}:${i + 1}: ${line.trim()}`);
      });
    }
    expect(bad).toEqual([]);
  });
});

describe('msu run report: not a run directory is bad input (3)', () => {
  it('a missing folder, a file, and a folder without report.json or events.jsonl', async () => {
    const missing = path.join(tmp, 'no-such-run');
    const r1 = await runCli('run', 'report', missing);
    expect([r1.code, r1.stderr]).toEqual([3, `msu: ${missing}: not a run directory: no such directory\n`]);
    writeFileSync(path.join(tmp, 'a-file'), 'x');
    const r2 = await runCli('run', 'report', path.join(tmp, 'a-file'));
    expect([r2.code, r2.stderr]).toEqual([3, `msu: ${path.join(tmp, 'a-file')}: not a run directory: not a directory\n`]);
    mkdirSync(path.join(tmp, 'empty-dir'));
    const r3 = await runCli('run', 'report', path.join(tmp, 'empty-dir'));
    expect([r3.code, r3.stderr]).toEqual([3, `msu: ${path.join(tmp, 'empty-dir')}: not a run directory: it holds neither report.json nor events.jsonl\n`]);
  });
});

/** A stdout whose reader has gone away: every write fails as a closed pipe does. */
class ClosedPipe extends Writable {
  writes = 0;
  constructor(private readonly code = 'EPIPE') {
    super();
  }
  override _write(_chunk: Buffer, _enc: string, cb: (err?: Error | null) => void): void {
    this.writes++;
    cb(Object.assign(new Error(`write ${this.code}`), { code: this.code }));
  }
}

class Sink extends Writable {
  data = '';
  override _write(chunk: Buffer, _enc: string, cb: () => void): void {
    this.data += chunk.toString('utf8');
    cb();
  }
}

describe('stdout closed by its reader (`msu … | head`)', () => {
  let cab: string;
  beforeAll(() => {
    cab = path.join(tmp, 'listing.cab');
    const files = Array.from({ length: 40 }, (_, i) => ({ name: `dir\\file-${String(i).padStart(2, '0')}.txt`, data: Buffer.from(`file ${i}\n`) }));
    writeFileSync(cab, buildCabinet({ folders: [{ compression: 'none', files }] }));
  });

  it('EPIPE ends the command quietly: its own exit code, nothing on stderr, no crash', async () => {
    for (const args of [['list', cab], ['list', cab, '--json']]) {
      const out = new ClosedPipe(), err = new Sink();
      const code = await main(['node', 'msu', ...args], out, err);
      expect([args.join(' '), code, err.data]).toEqual([args.join(' '), 0, '']);
      expect(out.writes).toBe(1);
    }
  });

  it('any other stdout error is an I/O error (6) with one line', async () => {
    const out = new ClosedPipe('ENOSPC'), err = new Sink();
    const code = await main(['node', 'msu', 'list', cab], out, err);
    expect(code).toBe(6);
    expect(err.data).toBe('msu: standard output: cannot write: no space left on device\n');
  });

  it('--version and help too: a version or help text that could not be written is exit 6', async () => {
    for (const args of [['--version'], ['-V'], ['--help'], ['help', 'inspect'], ['list', '--help']]) {
      const out = new ClosedPipe('ENOSPC'), err = new Sink();
      const code = await main(['node', 'msu', ...args], out, err);
      expect([args.join(' '), code, err.data]).toEqual([args.join(' '), 6, 'msu: standard output: cannot write: no space left on device\n']);
    }
    // and EPIPE stays quiet
    const out = new ClosedPipe(), err = new Sink();
    expect([await main(['node', 'msu', '--version'], out, err), err.data]).toEqual([0, '']);
  });
});

const XORRISO = hasTool('xorriso');
if (!XORRISO) skipNote('ISO exit codes', 'xorriso');

describe.skipIf(!XORRISO)('ISO failures translated from xorriso (docs/cli.md)', () => {
  let tree: string, iso: string, truncated: string;
  beforeAll(async () => {
    tree = path.join(tmp, 'tree');
    mkdirSync(path.join(tree, 'sources'), { recursive: true });
    mkdirSync(path.join(tree, 'boot'), { recursive: true });
    // a file big enough that cutting the image loses its data, not its directory records
    writeFileSync(path.join(tree, 'sources', 'install.wim'), Buffer.alloc(1 << 20, 0x5a));
    writeFileSync(path.join(tree, 'boot', 'etfsboot.com'), Buffer.alloc(4096));
    iso = path.join(tmp, 'media.iso');
    await runTool('xorriso', ['-as', 'mkisofs', '-iso-level', '3', '-J', '-r', '-V', 'T', '-o', iso, tree]);
    truncated = path.join(tmp, 'truncated.iso');
    writeFileSync(truncated, readFileSync(iso));
    truncateSync(truncated, 80 * 1024);
  });

  it('a truncated ISO is bad input (3) for list, extract and info, with a message that says so', async () => {
    for (const args of [['iso', 'list', truncated], ['iso', 'extract', truncated, path.join(tmp, 'x-out')], ['iso', 'info', truncated]]) {
      const r = await runCli(...args);
      expect([args[1], r.code, r.stdout]).toEqual([args[1], 3, '']);
      expect(r.stderr).toMatch(new RegExp(`^msu: ${truncated.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: the ISO image is truncated`));
      expect(r.stderr.split('\n')).toHaveLength(2);
    }
    expect(existsSync(path.join(tmp, 'x-out', 'sources'))).toBe(false);
  });

  it('an output that cannot be written is a file system error (6), not a tool failure (5)', async () => {
    writeFileSync(path.join(tmp, 'plain-file'), 'x');
    const out = path.join(tmp, 'plain-file', 'new.iso');
    const r = await runCli('iso', 'rebuild', tree, out, '--bios-boot', 'boot/etfsboot.com', '--efi-boot', 'boot/etfsboot.com');
    expect(r.code).toBe(6);
    expect(r.stderr).toMatch(/^msu: .*plain-file.*: cannot /);
    expect(r.stderr.split('\n')).toHaveLength(2);
  });

  it('msu run dism with an ISO that is not Windows media: "not a Windows install ISO" (3), before anything is built', async () => {
    const dir = path.join(tmp, 'dism');
    mkdirSync(dir, { recursive: true });
    const plan = {
      schema: 'msu-toolkit/plan@1', tool: { name: 'msu-toolkit', version: '0.1.0' },
      target: { kind: 'build', version: '10.0.26100.1', arch: 'amd64' },
      inputs: [], images: [{ image: 'install.wim#1', steps: [{ n: 1, action: 'cleanup-components', inputs: [], items: [], reason: 'r' }] }], skipped: [],
    };
    writeFileSync(path.join(dir, 'plan.json'), JSON.stringify(plan));
    const runDir = path.join(dir, 'run');
    const r = await runCli('run', 'dism', path.join(dir, 'plan.json'), '--iso', iso, '--run-dir', runDir);
    expect([r.code, r.stderr]).toEqual([3, `msu: ${iso}: not a Windows install ISO: /bootmgr, /sources/boot.wim missing\n`]);
    expect(existsSync(path.join(runDir, 'boot-tree'))).toBe(false);
    const r2 = await runCli('run', 'dism', path.join(dir, 'plan.json'), '--iso', truncated, '--run-dir', runDir);
    expect(r2.code).toBe(3);
    expect(r2.stderr).toContain('the ISO image is truncated');
  });
});
