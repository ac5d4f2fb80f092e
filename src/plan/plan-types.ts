/**
 * The plan file (`msu plan` writes it, `msu run` executes it, `msu plan diff` compares two).
 * Contract between src/cbs (planning) and src/vm (execution). Serialised with canonicalJson:
 * keys sorted, arrays in meaningful or sorted order, no timestamps, no absolute paths.
 */
export const PLAN_SCHEMA = 'msu-toolkit/plan@1';

export interface Plan {
  schema: typeof PLAN_SCHEMA;
  tool: { name: 'msu-toolkit'; version: string };
  target: PlanTarget;
  /** Every input the user gave, sorted by path. */
  inputs: PlanInput[];
  /** One entry per image to service, in servicing order (install.wim indexes, boot.wim#2, winre.wim). */
  images: PlanImage[];
  /** Inputs (or packages inside them) not used, with why. Sorted by input then package. */
  skipped: PlanSkip[];
  /** The offline-scan cabinet (and rules) the inputs were judged against (`msu plan --scancab`). */
  scancab?: PlanScanCab;
}

export interface PlanScanCab {
  /** SHA-256 of the scan cabinet (its path is not recorded: it need not lie below the plan). */
  sha256: string;
  packageId: string;
  creationDate: string;
  /** The rules as applied (parsed and normalised), absent for annotation only. */
  rules?: {
    defaultAllow: boolean; allow: string[]; forbid: string[]; allowedSeverities: string[];
    includeSuperseded: boolean; products: string[]; classifications: string[];
  };
}

/** The scan cabinet's update an input is. */
export interface PlanInputScan {
  /** UpdateId (GUID, lowercase) of the deployable update (the bundle when the payload sits in one). */
  updateId: string;
  revisionId: number;
  /** KB number, digits only. */
  kb?: string;
  /** sha1: a payload file of the update has the input's SHA-1; kb: found by the KB of the input's packages. */
  matchedBy: 'sha1' | 'kb';
}

export type PlanTarget =
  | {
      kind: 'wim'; file: string; sha256?: string; indexes: number[]; images: PlanTargetImage[];
      /** boot.wim, when given: index 2 (Windows Setup) is serviced. */
      bootWim?: PlanTargetWim;
      /** winre.wim, when given (index 1). */
      winre?: PlanTargetWim;
    }
  | {
      kind: 'build'; version: string; edition?: string; arch: string;
      /** Foundation package version the parent checks compare against, derived from the build (docs/plan.md). */
      foundationVersion?: string;
    };

/** A second WIM of the target (boot.wim, winre.wim). */
export interface PlanTargetWim {
  file: string;
  images: PlanTargetImage[];
}

export interface PlanTargetImage {
  index: number;
  name: string;
  edition?: string;
  arch: string;
  version?: string;
  /** Installed packages found in Windows\servicing\Packages (package identity strings), sorted. */
  installedPackages?: string[];
  /** Version of Microsoft-Windows-Foundation-Package, what parent checks compare against. */
  foundationVersion?: string;
}

export interface PlanInput {
  /** Stable id used by steps, e.g. "in1". */
  id: string;
  /** Path as the user gave it, relative to the working directory when possible. */
  path: string;
  kind: 'msu' | 'cab' | 'driver-folder';
  sha256: string;
  /** SHA-1 (hex), recorded with --scancab (scan cabinets name payload files by it). */
  sha1?: string;
  size: number;
  /** The scan cabinet's update this input is (with --scancab, when found). */
  scan?: PlanInputScan;
  /** Packages found inside (identity strings), sorted. */
  packages: PlanPackage[];
}

export interface PlanPackage {
  /** Name~PKT~arch~lang~version */
  identity: string;
  kb?: string;
  /** A PackageClass from src/cbs/classify.ts (ssu, lcu, checkpoint-lcu, dotnet, safeos-du, …), or `driver`. */
  class: string;
  /** Member path inside the input (e.g. Windows10.0-KB5012170-x64.cab), when the input is a bundle. */
  member?: string;
}

export interface PlanImage {
  /** e.g. "install.wim#1", "boot.wim#2", "winre.wim" */
  image: string;
  steps: PlanStep[];
}

export type PlanAction = 'add-package' | 'add-driver' | 'cleanup-components' | 'reset-base';

export interface PlanStep {
  /** 1-based, servicing order within the image. */
  n: number;
  action: PlanAction;
  /** Input ids this step consumes (several for checkpoint LCUs applied together from one folder). */
  inputs: string[];
  /** Package identities or driver INF names this step installs. */
  items: string[];
  /** Why this step exists and why here. */
  reason: string;
  applicability?: { result: 'applicable' | 'not-applicable' | 'unknown'; detail: string };
  /** Driver checks recorded for add-driver steps (see src/drivers). */
  checks?: { level: 'error' | 'warning' | 'info'; code: string; message: string }[];
}

export interface PlanSkip {
  input: string;
  item?: string;
  reason: 'superseded' | 'not-applicable' | 'wrong-arch' | 'missing-checkpoint' | 'duplicate' | 'unsupported' | 'forbidden' | string;
  detail: string;
  /** Plan images the skip applies to (absent: the input/package is not used anywhere). */
  images?: string[];
}
