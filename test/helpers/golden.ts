/**
 * Golden files: reviewed copies of generated output in test/fixtures/golden. One environment
 * variable, UPDATE_GOLDEN=1, rewrites them (then review the diff). A missing golden fails its
 * test and says how to create it: it is never written silently.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect } from 'vitest';

export const GOLDEN_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../fixtures/golden');
export const UPDATE_GOLDEN_ENV = 'UPDATE_GOLDEN';

const updating = (): boolean => process.env[UPDATE_GOLDEN_ENV] === '1';

/** Why a golden file is missing and how to create it (the assertion message). */
export function missingGoldenMessage(name: string): string {
  return `golden file test/fixtures/golden/${name} is missing: create it with ${UPDATE_GOLDEN_ENV}=1 npx vitest run <this test file>, then review and commit it`;
}

/** `actual` equals the golden file `name` (or, with UPDATE_GOLDEN=1, becomes it). */
export function expectGolden(name: string, actual: string): void {
  const file = path.join(GOLDEN_DIR, name);
  if (updating()) {
    writeFileSync(file, actual);
    return;
  }
  expect(existsSync(file), missingGoldenMessage(name)).toBe(true);
  expect(actual, name).toBe(readFileSync(file, 'utf8'));
}
