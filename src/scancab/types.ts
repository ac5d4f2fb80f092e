/** Offline-scan cabinet model (WSUSSCAN.cab / wsusscn2.cab), named after package.xml's own terms. */

export interface ScanCategory {
  /** Company, Product, ProductFamily, UpdateClassification. */
  type: string;
  id: string;
}

/** One `Updates/Update` of the OfflineSyncPackage, with what its fragments add. */
export interface ScanUpdate {
  updateId: string;
  revisionNumber: number;
  revisionId: number;
  isBundle: boolean;
  isLeaf: boolean;
  /** Install, Bundle, Evaluate; '' when absent. */
  deploymentAction: string;
  categories: ScanCategory[];
  /** Prerequisites: each group is satisfied by any one of its UpdateIds (a plain UpdateId is a group of one). */
  prerequisites: string[][];
  /** RevisionIds of the bundles that contain this revision. */
  bundledBy: number[];
  /** RevisionIds of the revisions that supersede this one. */
  supersededBy: number[];
  /** File Ids (base64 SHA-1) of the payload. */
  payloadFiles: string[];
  // from the fragments (core/, extended/, localized/<lang>/)
  updateType?: string;
  title?: string;
  description?: string;
  kb?: string;
  msrcSeverity?: string;
  /** Files named in the extended fragment: name, size, digest (base64 SHA-1). */
  files: { name: string; size: number; digest: string }[];
  /** Whether core/ holds applicability rules (IsInstalled/IsInstallable) for this revision. */
  hasApplicabilityRules: boolean;
}

export interface ScanIndex {
  /** Format version of this index (bumped when the cache layout changes). */
  indexVersion: number;
  /** SHA-256 of the scan cabinet the index was built from. */
  sha256: string;
  packageId: string;
  protocolVersion: string;
  creationDate: string;
  /** Form: one package.cab (WSUSSCAN.cab) or an index cabinet plus packageN.cab (wsusscn2.cab). */
  form: 'single' | 'multi';
  /** Inner cabinets, in order. */
  cabinets: string[];
  /** Sorted by RevisionId. */
  updates: ScanUpdate[];
  /** FileLocation Id (base64 SHA-1) to Url. */
  fileLocations: Record<string, string>;
}

export const INDEX_VERSION = 2;
