import { existsSync } from 'node:fs';
import { CORPUS_DIR } from './corpus-dir.js';

/** Vitest global setup: one visible line when the corpus tests will skip (fresh clone without ../shared). */
export default function setup(): void {
  if (existsSync(CORPUS_DIR)) return;
  if (process.env.CI === 'true') throw new Error(`the real-world corpus is missing (${CORPUS_DIR}); CI=true requires it`);
  console.warn(`SKIPPED: tests that read the real-world corpus (${'../shared/corpus'} not found beside the repository)`);
}
