import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** The shared real-world corpus sits beside the repository (../shared/corpus); tests read it in place. */
export const CORPUS = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../shared/corpus');
export const hasCorpus = existsSync(CORPUS);

export function corpusPath(...parts: string[]): string {
  return path.join(CORPUS, ...parts);
}
