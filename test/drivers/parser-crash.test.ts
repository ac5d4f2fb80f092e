/**
 * A parser bug (any exception that is not an InfError) in one INF becomes one finding for
 * that INF; the other INFs of the package are still checked. The parser is replaced here
 * so that the bug can be injected.
 */
import { afterAll, expect, test, vi } from 'vitest';
import { cleanupPackages, makePackage, sndInf } from './fixtures.js';

vi.mock('../../src/drivers/inf.js', async (importOriginal) => {
  const real = await importOriginal<typeof import('../../src/drivers/inf.js')>();
  return {
    ...real,
    parseInf: (bytes: Uint8Array, file?: string) => {
      if (file === 'crash.inf') throw new RangeError('Invalid string length');
      return real.parseInf(bytes, file);
    },
  };
});

afterAll(cleanupPackages);

test('a non-InfError from the parser is a DRV_INF_UNREADABLE finding, not a crash', async () => {
  const { checkDriverPackage } = await import('../../src/drivers/package.js');
  const dir = await makePackage({ 'crash.inf': '[Version]\n', 'vsnd.inf': sndInf(), 'vsnd.cat': 'c', 'vsnd.sys': 's' });
  const r = await checkDriverPackage(dir, { arch: 'amd64' });
  expect(r.findings).toEqual([
    { level: 'error', code: 'DRV_INF_UNREADABLE', message: 'INF could not be parsed (Invalid string length)', file: 'crash.inf' },
  ]);
  expect(r.infs.map((i) => i.file)).toEqual(['vsnd.inf']);
});
