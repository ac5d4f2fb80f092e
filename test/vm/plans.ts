/** Plans the DISM worker tests share: the golden plan-dism.json, and the same plan with a WinRE image. */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Plan } from '../../src/plan/plan-types.js';

export const GOLDEN = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../fixtures/golden');
export const PLAN_FILE = path.join(GOLDEN, 'plan-dism.json');
export const loadPlan = (): Plan => JSON.parse(readFileSync(PLAN_FILE, 'utf8')) as Plan;

export const SSU = 'Package_for_ServicingStack_1234~31bf3856ad364e35~amd64~~26100.1234.1.0';
export const SAFEOS = 'Package_for_SafeOSDU~31bf3856ad364e35~amd64~~26100.3000.1.2';

/** The golden plan plus the WinRE image `msu plan --winre` emits (role winre: SSU, Safe OS DU, cleanup). */
export function winrePlan(): Plan {
  const plan = loadPlan();
  plan.images.push({
    image: 'winre.wim',
    steps: [
      { n: 1, action: 'add-package', inputs: ['in3'], items: [SSU], reason: 'servicing stack first' },
      { n: 2, action: 'add-package', inputs: ['in5'], items: [SAFEOS], reason: 'Safe OS dynamic update', applicability: { result: 'unknown', detail: 'no SafeOS marker found' } },
      { n: 3, action: 'cleanup-components', inputs: [], items: [], reason: 'clean up the image' },
    ],
  });
  return plan;
}

/**
 * `plan` with each input's size and SHA-256 taken from the files under `dir` (a plan pins its
 * inputs, and msu run refuses inputs that differ), as msu plan would have written them.
 */
export async function pinPlan(plan: Plan, dir: string): Promise<Plan> {
  const { hashFile, hashFolder } = await import('../../src/plan/plan-hash.js');
  const out = JSON.parse(JSON.stringify(plan)) as Plan;
  for (const i of out.inputs) {
    const abs = path.join(dir, ...i.path.split('/'));
    const h = i.kind === 'driver-folder' ? await hashFolder(abs, i.path) : await hashFile(abs, i.path);
    i.sha256 = h.sha256;
    i.size = h.size;
  }
  return out;
}
