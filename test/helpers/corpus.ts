import { existsSync } from 'node:fs';
import path from 'node:path';
import { CORPUS_DIR } from './corpus-dir.js';

/** The shared real-world corpus sits beside the repository (../shared/corpus); tests read it in place. */
export const CORPUS = CORPUS_DIR;
const present = existsSync(CORPUS);

/**
 * CI must run every corpus test: a missing corpus there is a failure, not a skip. Elsewhere (a fresh clone)
 * the tests that need it skip, and test/helpers/corpus-setup.ts prints one line saying so.
 */
if (!present && process.env.CI === 'true') {
  throw new Error(`the real-world corpus is missing (${CORPUS}); CI=true requires it`);
}

export const hasCorpus = present;

export function corpusPath(...parts: string[]): string {
  return path.join(CORPUS, ...parts);
}
