import { describe, expect, it } from 'vitest';
import { ToolError } from '../../src/errors.js';
import { runTool, ToolRunError, type ToolStream } from '../../src/util/exec.js';
import { writeFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { wimInfo } from '../../src/wim/wimlib.js';
import { isoList } from '../../src/iso/iso.js';

describe('runTool', () => {
  it('a missing tool is E_TOOL_MISSING naming the Debian package', async () => {
    const e = await runTool('wimlib-imagex', ['--version'], { file: 'x.wim', env: { PATH: '/nonexistent' } }).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(ToolError);
    expect(e).toMatchObject({ code: 'E_TOOL_MISSING', kind: 'tool', file: 'x.wim', message: 'wimlib-imagex is not installed (Debian/Ubuntu: apt-get install wimtools)' });
    await expect(runTool('qemu-img', [], { env: { PATH: '/nonexistent' } })).rejects.toThrow('apt-get install qemu-utils');
    await expect(runTool('msu-no-such-tool', [])).rejects.toThrow('msu-no-such-tool is not installed or not on PATH');
  });

  it('a non-zero exit is E_TOOL_FAILED with the exit code and the last stderr lines', async () => {
    const e = (await runTool('sh', ['-c', 'for i in 1 2 3 4 5 6 7 8; do echo "line $i" >&2; done; exit 3'], { file: 'in.bin', stderrLines: 2 }).catch((x: unknown) => x)) as ToolRunError;
    expect(e).toBeInstanceOf(ToolRunError);
    expect(e.code).toBe('E_TOOL_FAILED');
    expect(e.exitCode).toBe(3);
    expect(e.message).toBe('sh -c failed with exit code 3: line 7 | line 8');
    expect(e.describe()).toBe('in.bin: sh -c failed with exit code 3: line 7 | line 8');
    expect(e.stderr.split('\n')).toHaveLength(9);
    const ok = await runTool('sh', ['-c', 'exit 1'], { okExitCodes: [1] });
    expect(ok.exitCode).toBe(1);
  });

  it('forwards lines as they arrive, splitting progress redraws on \\r', async () => {
    const seen: Array<[string, ToolStream]> = [];
    const r = await runTool('sh', ['-c', 'printf "copy 10%%\\rcopy 50%%\\rcopy 100%%\\n" >&2; echo done; printf "tail"'], {
      onLine: (l, s) => seen.push([l, s]),
    });
    expect(seen.filter(([, s]) => s === 'stderr').map(([l]) => l)).toEqual(['copy 10%', 'copy 50%', 'copy 100%']);
    expect(seen.filter(([, s]) => s === 'stdout').map(([l]) => l)).toEqual(['done', 'tail']);
    expect(r.stdout).toBe('done\ntail');
  });

  it('returns raw bytes in binary mode and feeds stdin', async () => {
    const r = await runTool('sh', ['-c', "printf '\\377\\376A\\000'"], { binary: true });
    expect([...r.stdout]).toEqual([0xff, 0xfe, 0x41, 0x00]);
    const c = await runTool('sh', ['-c', 'tr a-z A-Z'], { input: 'add "x" "/y"\n' });
    expect(c.stdout).toBe('ADD "X" "/Y"\n');
  });

  it('stops a child that exceeds its time limit', async () => {
    const t0 = Date.now();
    await expect(runTool('sleep', ['10'], { timeoutMs: 200 })).rejects.toMatchObject({ code: 'E_TOOL_TIMEOUT', message: 'sleep did not finish within 200 ms and was stopped' });
    expect(Date.now() - t0).toBeLessThan(5000);
  });

  it('wim and iso functions report a missing tool with its Debian package', async () => {
    const f = path.join(os.tmpdir(), `msu-exec-${process.pid}.bin`);
    // big enough and shaped enough to pass the ISO pre-check, so the tool is actually needed
    const iso = Buffer.alloc(40000);
    iso.write('\x01CD001', 32768, 'latin1');
    await writeFile(f, iso);
    const saved = process.env['PATH'];
    process.env['PATH'] = '/nonexistent';
    try {
      await expect(wimInfo(f)).rejects.toMatchObject({ code: 'E_TOOL_MISSING', file: f, message: 'wimlib-imagex is not installed (Debian/Ubuntu: apt-get install wimtools)' });
      await expect(isoList(f)).rejects.toMatchObject({ code: 'E_TOOL_MISSING', file: f, message: 'xorriso is not installed (Debian/Ubuntu: apt-get install xorriso)' });
    } finally {
      process.env['PATH'] = saved;
      await rm(f, { force: true });
    }
  });
});
