// A process whose address space is limited (ulimit -v) cannot have WebAssembly memory: V8
// reserves gigabytes of address space for each instance's memory. The cabinet code then takes its
// JavaScript paths (the CFFILE scan, the checksum), and LZX, which has none, says why in one
// error (src/cab/wasm.ts). Before, each of them ended in "internal error".
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WASM_MIN_FILES } from '../../src/cab/cffile-scan.js';
import { buildCabinet } from '../../src/cab/writer.js';
import { ensureBuilt, msuBin, repoRoot } from '../helpers/built-cli.js';

/** 4 GB of address space: room for Node.js, none for a WebAssembly memory's reservation. */
const LIMIT_KB = 4_000_000;

function limited(args: string[]): { status: number | null; stdout: string; stderr: string } {
  const quoted = args.map((a) => `'${a.replace(/'/g, `'\\''`)}'`).join(' ');
  const r = spawnSync('bash', ['-c', `ulimit -v ${LIMIT_KB} && exec ${quoted}`], { encoding: 'utf8' });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

// whether the limit does refuse WebAssembly memory here (it does on x86-64 Linux, where V8 guards
// each memory with a large reservation); elsewhere there is nothing to test
const probe = limited([process.execPath, '-e', 'try { new WebAssembly.Memory({ initial: 1 }); console.log("allowed") } catch { console.log("refused") }']);
const refuses = probe.stdout.trim() === 'refused';
if (!refuses) console.warn(`SKIPPED: running without WebAssembly memory: ulimit -v ${LIMIT_KB} does not refuse it on this machine (${probe.stdout.trim() || probe.stderr.trim()})`);

describe.skipIf(!refuses)('when WebAssembly cannot have its memory (ulimit -v)', () => {
  let dir = '';
  let cab = '';
  beforeAll(() => {
    ensureBuilt();
    dir = mkdtempSync(path.join(os.tmpdir(), 'msu-wasm-memory-'));
    cab = path.join(dir, 'big.cab');
    // a CFFILE table large enough for the WebAssembly scan, an update.mum, and data of more
    // than a KiB a block (the checksum's WebAssembly loop)
    const files = [
      { name: 'update.mum', data: Buffer.from('<?xml version="1.0" encoding="utf-8"?><assembly xmlns="urn:schemas-microsoft-com:asm.v3" manifestVersion="1.0"><assemblyIdentity name="Package_for_KB5000001" version="10.0.1.2" processorArchitecture="amd64" language="neutral" publicKeyToken="31bf3856ad364e35"/><package identifier="KB5000001" releaseType="Update"/></assembly>') },
      ...Array.from({ length: WASM_MIN_FILES + 10 }, (_, i) => ({ name: `amd64_c${i}\\f${i}.manifest`, data: Buffer.alloc(40 + (i % 7), 0x61 + (i % 26)) })),
    ];
    writeFileSync(cab, buildCabinet({ folders: [{ compression: 'mszip', files }] }));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('lists and inspects a cabinet of more than WASM_MIN_FILES members as without the limit', () => {
    for (const cmd of [['list', '--json', cab], ['inspect', '--json', cab]]) {
      const free = spawnSync(process.execPath, [msuBin, ...cmd], { encoding: 'utf8' });
      const r = limited([process.execPath, msuBin, ...cmd]);
      expect(free.status, free.stderr).toBe(0);
      expect(r.stderr).toBe('');
      expect(r.status).toBe(0);
      expect(r.stdout).toBe(free.stdout);
    }
    expect(JSON.parse(limited([process.execPath, msuBin, 'inspect', '--json', cab]).stdout).packages[0]).toMatchObject({
      identity: 'Package_for_KB5000001~31bf3856ad364e35~amd64~~10.0.1.2', counts: { files: WASM_MIN_FILES + 11, manifests: WASM_MIN_FILES + 10, mum: 1 },
    });
  }, 120_000);

  it('gives LZX decoding one clear error, E_LZX_WASM', () => {
    const lzx = path.join(repoRoot, 'dist/src/cab/lzx.js');
    const r = limited([process.execPath, '-e', `
      const { LzxDecoder } = require(${JSON.stringify(lzx)});
      try { new LzxDecoder(21); console.log('made') } catch (e) { console.log(e.code + ': ' + e.message); }`]);
    expect(r.stdout.trim()).toMatch(/^E_LZX_WASM: LZX decoding needs WebAssembly, but this process cannot allocate its memory \(is its address space limited, as by ulimit -v\?\): \S/);
  }, 120_000);
});
