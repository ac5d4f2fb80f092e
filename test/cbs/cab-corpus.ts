import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { corpusPath, hasCorpus } from '../helpers/corpus.js';
import { hasTool, skipNote } from '../helpers/tools.js';

/** The real KB2883457 CAB, unpacked with cabextract (test-only oracle) into a temp dir. */
export const CAB = corpusPath('cab', 'Windows6.1-KB2883457-amd64.cab');
export const canExtractCab = hasCorpus && hasTool('cabextract');

export function extractCab(): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(path.join(tmpdir(), 'msu-cbs-'));
  // cabextract warns about the Authenticode blob after the cabinet and still exits 0.
  execFileSync('cabextract', ['-q', '-d', dir, CAB], { stdio: 'ignore' });
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

export function noteCabSkip(what: string): void {
  if (!canExtractCab) skipNote(what, hasCorpus ? 'cabextract' : 'the shared corpus');
}
