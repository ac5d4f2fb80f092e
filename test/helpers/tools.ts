import { execFileSync } from 'node:child_process';

/** True when an external tool is on PATH; tests that need it skip visibly otherwise. */
export function hasTool(cmd: string): boolean {
  try {
    execFileSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/** Log once why a comparison is skipped, so a green run never hides a missing oracle. */
export function skipNote(what: string, tool: string): void {
  console.warn(`SKIPPED: ${what}: ${tool} is not installed`);
}
