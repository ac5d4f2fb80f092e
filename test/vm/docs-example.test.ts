/**
 * docs/vm.md's example run spec is real: read the JSON block under "## Example run spec",
 * validate it, and run it unchanged through `msu vm run` against the GRUB guest under OVMF.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { ovmfPaths } from '../../src/vm/features.js';
import { validateRunSpec } from '../../src/vm/spec.js';
import { grubEfiDisk, hasGrubEfi } from '../helpers/efi.js';
import { runCli } from '../helpers/cli.js';
import { hasTool, skipNote } from '../helpers/tools.js';

const DOC = fileURLToPath(new URL('../../docs/vm.md', import.meta.url));

/** The first ```json block of the "## Example run spec" section. */
function exampleSpec(): unknown {
  const doc = readFileSync(DOC, 'utf8');
  const at = doc.indexOf('\n## Example run spec\n');
  expect(at).toBeGreaterThan(0);
  const section = doc.slice(at + 1, doc.indexOf('\n## ', at + 1));
  const m = /```json\n([\s\S]*?)\n```/.exec(section);
  expect(m).not.toBeNull();
  return JSON.parse(m![1]!);
}

const ovmfOk = (() => {
  try {
    ovmfPaths(false);
    return true;
  } catch {
    return false;
  }
})();
const ready = hasTool('qemu-system-x86_64') && hasTool('qemu-img') && hasTool('mformat') && ovmfOk && hasGrubEfi();
if (!ready) skipNote('docs/vm.md example run', 'qemu-system-x86_64, ovmf, mtools and grub-efi-amd64-bin');

const root = mkdtempSync(path.join(os.tmpdir(), 'msu-docs-example-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

/** The guest the example describes: one boot, one step, done, power off. */
const GUEST = `echo '@@MSU {"type":"boot","n":1}'
echo '@@MSU {"type":"step","id":"hello","name":"say hello","state":"ok","exitCode":0}'
echo '@@MSU {"type":"done","ok":true}'
halt
`;

describe('docs/vm.md example run spec', () => {
  it('is a valid spec that uses the documented field names', () => {
    const json = exampleSpec() as { timeouts: Record<string, number> };
    const spec = validateRunSpec(json, 'docs/vm.md');
    expect(Object.keys(json.timeouts).sort()).toEqual(['bootMin', 'graceSec', 'heartbeatMin', 'maxBoots', 'perBootMin', 'tcgFactor', 'totalMin']);
    expect(spec.timeouts).toEqual({ bootSec: 180, heartbeatSec: 120, perBootSec: 600, totalSec: 1200, maxBoots: 3, tcgFactor: 4, graceSec: 10 });
    // every field name the doc's tables list for timeouts is one validateRunSpec takes
    const doc = readFileSync(DOC, 'utf8');
    const names = [...doc.matchAll(/^\| `(\w+)` \/ `(\w+)` \|/gm)].flatMap((m) => [m[1]!, m[2]!]);
    const secs = { bootSec: 60, heartbeatSec: 60, perBootSec: 600, totalSec: 6000, graceSec: 0 };
    const mins = { bootMin: 1, heartbeatMin: 1, perBootMin: 10, totalMin: 100, graceMin: 0 };
    expect(names.sort()).toEqual([...Object.keys(secs), ...Object.keys(mins)].sort());
    expect(validateRunSpec({ ...json, timeouts: secs }).timeouts).toMatchObject(secs);
    expect(validateRunSpec({ ...json, timeouts: mins }).timeouts).toMatchObject(secs);
    expect(() => validateRunSpec({ ...json, timeouts: { boot: 30 } })).toThrow('run spec: timeouts.boot: unknown field');
  });

  it.skipIf(!ready)('runs unchanged against the GRUB guest under OVMF', { timeout: 120_000 }, async () => {
    const dir = path.join(root, 'run-example');
    await import('node:fs').then((fs) => fs.mkdirSync(dir));
    writeFileSync(path.join(dir, 'smoke.json'), JSON.stringify(exampleSpec(), null, 2));
    await grubEfiDisk(path.join(dir, 'guest.img'), GUEST);
    const r = await runCli('vm', 'run', path.join(dir, 'smoke.json'), '--run-dir', path.join(dir, 'runs', 'smoke-1'), '--timeout', '100s', '--json');
    const lines = r.stdout.trim().split('\n').map((l) => JSON.parse(l));
    const result = lines[lines.length - 1].result;
    expect(result).toMatchObject({ id: 'smoke-1', ok: true, starts: 1, boots: 1, terminal: 'done', shutdownReason: 'guest-shutdown', lastStep: { id: 'hello', state: 'ok' }, statusFiles: ['params.json'] });
    expect(r.code).toBe(0);
    const params = JSON.parse(readFileSync(path.join(dir, 'runs', 'smoke-1', 'status', 'params.json'), 'utf8'));
    expect(params).toEqual({ id: 'smoke-1', kind: 'generic', script: 'smoke', params: { greeting: 'hello' } });
  });
});
