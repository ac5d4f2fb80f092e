/**
 * "Everything the CLI can do, the library exports": the functions behind each command are
 * reachable from the package entry point.
 */
import { describe, expect, it } from 'vitest';
import * as lib from '../../src/index.js';

const BEHIND_COMMANDS: Record<string, string[]> = {
  inspect: ['inspectFile'],
  'list / extract': ['listCabinet', 'extractCabinet', 'Cabinet'],
  cbs: ['parseMum', 'parseComponentManifest', 'parseUpdateSes', 'parsePkgProperties', 'detectCbsFileKind'],
  deltas: ['parseContainerIndex', 'analyzeDeltas', 'parseDeltaHeader'],
  plan: ['buildPlan', 'formatPlanSummary'],
  'plan diff': ['diffPlans', 'formatPlanDiff', 'readPlanFile', 'comparePlanWithRun', 'formatPlanRunDiff', 'checkPlan'],
  verify: ['verifyPackage', 'formatVerifyReport', 'checkCatalogSignature', 'buildCatalog', 'verifyExitCode', 'parseFileHashes'],
  'image / wim / iso': ['imageInventory', 'wimInfo', 'wimExtract', 'wimUpdate'],
  'extraction commit (extract, iso extract)': ['StagedDir', 'safeRelativePath'],
  driver: ['parseInf'],
  vm: ['runVm', 'validateRunSpec', 'qemuArgs', 'probeQemu', 'RunProgress', 'describeTimeouts', 'parseDuration', 'applyTimeoutOverrides'],
  'run dism / run wua / run report': ['prepareDismRun', 'checkDismReports', 'prepareWuaRun', 'buildRunReport', 'readRunReport', 'writeRunReport', 'loadRunDirReport', 'resolvePlanInputs', 'verifyPlanInput', 'copyPlanInput'],
  'delta apply': ['applyDelta', 'readDeltaHeader', 'unwrapDelta', 'decodeDcmManifest', 'isDcmManifest', 'baseManifestFromWcp', 'parsePe'],
  expand: ['expandPackage', 'expandExpress', 'openExpressPackage', 'decodeCompressApiContainer', 'decompressLzms'],
};

describe('library entry point', () => {
  for (const [cmd, names] of Object.entries(BEHIND_COMMANDS)) {
    it(`exports what \`msu ${cmd}\` uses`, () => {
      const missing = names.filter((n) => typeof (lib as Record<string, unknown>)[n] !== 'function');
      expect(missing).toEqual([]);
    });
  }
});
