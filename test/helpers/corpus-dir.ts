import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** Where the shared corpus is expected: ../shared/corpus beside the repository. */
export const CORPUS_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../shared/corpus');
