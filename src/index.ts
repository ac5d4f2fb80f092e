/**
 * msu-toolkit library: the public API, named one by one (docs/api.md lists every export).
 * Internals stay in their modules; the CLI may import modules directly.
 */
export { ByteReader } from './util/reader.js';
export { type ByteSource, FileSource, BufferSource, SliceSource } from './util/source.js';
export { parseXml, decodeText, type XmlElement } from './util/xml.js';
export { canonicalJson } from './util/json.js';
export { safeRelativePath, resolveUnder, writeFileAtomic, StagedDir } from './util/fsout.js';
export { VERSION } from './version.js';
export {
  buildCabinet,
  buildCabinetSet,
  type CabWriteFile,
  type CabWriteFolder,
  type CabWriteOptions,
} from './cab/writer.js';
export { buildPlan, formatPlanSummary, type PlanRequest, type PlanRequestTarget } from './plan/plan.js';
export { resolvePlanInputs, verifyPlanInput, copyPlanInput, type ResolvedPlanInput } from './plan/plan-inputs.js';
export { decompressLzms, LzmsError } from './delta/lzms.js';
export {
  decodeSolidResource,
  readSolidResourceHeader,
  solidResourceChunks,
  type SolidResourceHeader,
} from './wim/solid-resource.js';
export {
  readCompressApiHeader,
  isCompressApiContainer,
  type CompressApiHeader,
  COMPRESS_API_MAGIC,
  decodeCompressApiContainer,
} from './delta/compress-api.js';
export { expandPackage, type ExpandPackageOptions, type ExpandPackageReport } from './expand/index.js';
export {
  expandExpress,
  type ExpandOptions,
  type ExpandReport,
  type ExpandedFile,
  type NotExpandedFile,
} from './expand/expand.js';
export { openExpressPackage, type ExpressPackage } from './expand/locate.js';
export {
  exitCodeFor,
  ioError,
  type ExitKind,
  type ErrorContext,
  MsuError,
  TruncatedError,
  FormatError,
  UnsupportedError,
  UsageError,
  ToolError,
  IoError,
  MismatchError,
  EXIT,
  InterruptedError,
} from './errors.js';
export { CabError, parseCfHeader, isCabinet } from './cab/header.js';
export { MszipError } from './cab/mszip.js';
export { LzxError } from './cab/lzx.js';
export { Cabinet, type CabEntry, type ExtractOptions, type ExtractResult } from './cab/cabinet.js';
export {
  type CompressionMethod,
  type Compression,
  type CfHeader,
  type CfFolder,
  type CfFile,
  type CfData,
} from './cab/types.js';
export { loadContainerIndex, type LoadedIndex } from './msu/load-index.js';
export { buildSyntheticMsu, SAMPLE_OPTIONS, type SyntheticMsuOptions } from './msu/synthetic.js';
export { classifyMember, kbFromName, type MemberRole, PACKAGE_ROLES } from './msu/members.js';
export { inspectFile, inspectCabinet, type InspectOptions } from './msu/inspect.js';
export {
  INSPECT_SCHEMA,
  type ContainerKind,
  type InspectMember,
  type InspectReport,
  type MemberCopyProgress,
  type PackageParent,
  type PackageSummary,
} from './msu/summary.js';
export { openCabinet, listCabinet, extractCabinet, type ListedMember } from './msu/extract.js';
export { detectCbsFileKind, parseCbsFile, type CbsFileKind, type CbsFile } from './cbs/index.js';
export { isVersion, parseVersion, formatVersion, compareVersions, type Version } from './cbs/version.js';
export {
  isNeutralLanguage,
  formatPackageId,
  parsePackageId,
  versionlessKey,
  type AssemblyIdentity,
  type IdentityOptions,
  type WindowsArch,
} from './cbs/identity.js';
export {
  keyformStringHash,
  keyformHash,
  keyformHashHex,
  keyformName,
  keyform,
  parseKeyform,
  type KeyformIdentity,
  type KeyformHashOptions,
  type ParsedKeyform,
} from './cbs/keyform.js';
export {
  detectCompressedManifest,
  type CompressedManifestKind,
  type CompressedManifestInfo,
} from './cbs/winsxs-compressed.js';
export {
  parseComponentManifest,
  type ComponentManifest,
  type FileHash,
  type ManifestFile,
  type ManifestDirectory,
  type RegistryValue,
  type RegistryKey,
  type CategoryInstance,
  type CategoryMembership,
  type ManifestDependency,
} from './cbs/manifest.js';
export {
  parseMum,
  mumUpdateIdentities,
  type MumPackage,
  type MumAssemblyAttrs,
  type MumPackageElement,
  type MumCustomInformation,
  type MumParent,
  type MumUpdateKind,
  type MumUpdate,
  type MumApplicability,
} from './cbs/mum.js';
export { parseUpdateSes, type UpdateSession, type SesPhase, type SesPackage } from './cbs/ses.js';
export { pkgProperty, parsePkgProperties, type PkgProperty, type PkgProperties } from './cbs/pkgprops.js';
export {
  classifyPackage,
  isHotpatch,
  supersedes,
  type PackageClass,
  type ClassifyHints,
  type Classification,
  type PackageFacts,
  type Supersedence,
} from './cbs/classify.js';
export {
  parseContainerIndex,
  type CixHash,
  type CixLocation,
  type CixSource,
  type CixBasis,
  type CixFile,
  type ContainerIndex,
} from './cbs/container-index.js';
export {
  analyzeDeltas,
  describeProblem,
  type BasisKind,
  type ChainEnd,
  type FileChain,
  type DeltaProblem,
  type ExternalBasisNeed,
  type ExternalBasisGroup,
  type SourceTypeTotal,
  type DeltaReport,
} from './cbs/chains.js';
export {
  parseCatalog,
  catalogHasDigest,
  checkCatalogSignature,
  readCatalog,
  type CatNameValue,
  type CatalogEntry,
  type Catalog,
  type CatalogSignature,
} from './cbs/catalog.js';
export { buildCatalog } from './cbs/catalog-writer.js';
export { parseFileHashes, type FileHashEntry, type FileHashes, FILEHASHES_NAME } from './cbs/filehashes.js';
export {
  parseInf,
  InfError,
  type InfEncoding,
  type InfIssue,
  type InfEntry,
  type InfSection,
  type InfDriverVer,
  type InfVersion,
  type InfArch,
  type InfTargetOs,
  type InfManufacturer,
  type InfModel,
  type InfSourceDisk,
  type InfSourceFile,
  type InfCopyFile,
  type InfServiceInstall,
  type InfDdInstall,
  type InfDestinationDir,
  type Inf,
  type ParseInfOptions,
} from './drivers/inf.js';
export {
  normalizeHardwareId,
  matchHardwareIds,
  type PciId,
  type PciIdentity,
  type HardwareIdMatch,
  type MatchOptions,
} from './drivers/hwid.js';
export {
  findQemuDevice,
  type QemuDevice,
  QEMU_DEVICES,
  type DeviceIdOptions,
  type ExposedIds,
} from './drivers/devices.js';
export {
  checkDriverPackage,
  type FindingLevel,
  type DriverFinding,
  type InfServiceSummary,
  type InfSummary,
  type DeviceMatch,
  type DriverCheckReport,
  type DriverCheckOptions,
} from './drivers/package.js';
export {
  PLAN_SCHEMA,
  type Plan,
  type PlanTarget,
  type PlanTargetWim,
  type PlanTargetImage,
  type PlanInput,
  type PlanPackage,
  type PlanImage,
  type PlanAction,
  type PlanStep,
  type PlanSkip,
} from './plan/plan-types.js';
export {
  diffPlans,
  isEmptyDiff,
  formatPlanDiff,
  type PlanDiff,
  type TargetChange,
  type StepView,
  type ImageDiff,
  type SkipView,
} from './plan/plan-diff.js';
export { checkPlan, readPlanFile } from './plan/plan-check.js';
export { verifyPackage, verifyExitCode, formatVerifyReport, type VerifyOptions, type VerifyProgress } from './verify/index.js';
export {
  overallOutcome,
  VERIFY_SCHEMA,
  type VerifyOutcome,
  type VerifyCheckKind,
  type NotCheckedReason,
  type VerifyCheck,
  type OutcomeCounts,
  type VerifyPackageSummary,
  type VerifyReport,
} from './verify/model.js';
export {
  WIMLIB,
  wimInfo,
  wimDir,
  wimExtract,
  wimVerify,
  wimCapture,
  wimUpdate,
  wimExport,
  wimOptimize,
  wimSplit,
  type WimProgress,
  type WimRunOptions,
  type WimCompression,
  type WimExtractOptions,
  type WimExtractResult,
  type WimCaptureOptions,
  type WimUpdateCommand,
  type WimExportOptions,
  type WimOptimizeOptions,
} from './wim/wimlib.js';
export {
  imageInventory,
  type ImageInventory,
  type InventoryImage,
  type InventoryOptions,
  type InstalledPackage,
  type OemDriver,
  type VersionSource,
} from './wim/inventory.js';
export { type WimImage, type WimInfo } from './wim/types.js';
export {
  XORRISO,
  isoList,
  isoExtract,
  isoBootInfo,
  isoRebuild,
  type IsoEntry,
  type ElToritoEntry,
  type IsoBootInfo,
  type IsoRebuildOptions,
  type IsoRunOptions,
  type IsoProgress,
} from './iso/iso.js';
export { generateDismWorker } from './vm/guest/dism-worker.js';
export { generateWuaRunner, type WuaRunnerOptions, type WuaFilter } from './vm/guest/wua-runner.js';
export { RunProgress, describeTimeouts } from './vm/progress.js';
export {
  validateRunSpec,
  applyTimeoutOverrides,
  parseDuration,
  formatDuration,
  type RunKind,
  type Accel,
  type DiskRole,
  type DiskFormat,
  type DiskBus,
  type CdromRole,
  type RebootPolicy,
  type TpmModel,
  type TpmSpec,
  type Firmware,
  type DiskSpec,
  type CdromSpec,
  type NetSpec,
  type DeviceSpec,
  type StatusDiskSpec,
  type VmSpec,
  type GuestRef,
  type ExpectedOutput,
  type Expect,
  type Timeouts,
  type RunSpec,
  TIMEOUT_DEFAULTS,
  TIMEOUT_LIMITS,
  SpecError,
  type TimeoutOverrides,
} from './vm/spec.js';
export {
  PROTOCOL_VERSION,
  type StepState,
  type GuestEvent,
  type GuestEventType,
  GUEST_EVENT_TYPES,
} from './vm/protocol.js';
export { qemuArgs, type OvmfPaths, type QemuEnv } from './vm/qemu-args.js';
export { probeQemu, QEMU_BINARY, type QemuVersion, type QemuFeatures, type AccelProbe } from './vm/features.js';
export { QmpError, QmpClient } from './vm/qmp.js';
export {
  createStatusDisk,
  listStatusDisk,
  readStatusFile,
  readStatusJson,
  copyOutStatusDisk,
  type StatusDiskOptions,
} from './vm/status-disk.js';
export { runVm, compactImage, type RunOptions, type CompactOptions } from './vm/runner.js';
export { type FailureCode, type RunEvent, type RunEventBody, type RunFailure, type RunResult } from './vm/run-types.js';
export { type NextDeadline, type WatchdogLimit } from './vm/watchdogs.js';
export {
  buildRunReport,
  formatRunReport,
  comparePlanWithRun,
  formatPlanRunDiff,
  readRunReport,
  readPlanOrRunReport,
  loadRunDirReport,
  writeRunReport,
  RUN_REPORT_SCHEMA,
  type StepOutcome,
  type ReportStep,
  type ReportUpdate,
  type RunReport,
  type PlannedOutcome,
  type PlanRunEntry,
  type PlanRunDiff,
  RUN_FILES,
} from './vm/report.js';
export {
  prepareDismRun,
  checkDismReports,
  readDismReports,
  finishDismRun,
  type PrepareDismOptions,
  DISM_RUN_FILES,
  type DismFinish,
} from './vm/dism.js';
export {
  type DismRunReport,
  type DismStepWarning,
  parseDismPackages,
  parseDismDrivers,
  type DismPackage,
  type DismDriver,
  type PlanDifferenceKind,
  type PlanDifference,
} from './vm/dism-output.js';
export { type HostArtifact, type HostCommand, type PreparedRun } from './vm/prepared-run.js';
export {
  checkWuaImage,
  inspectWuaImage,
  cleanupWuaImage,
  prepareWuaRun,
  finishWuaRun,
  type PrepareWuaOptions,
  WUA_RUN_FILES,
  WUA_GUEST_PATHS,
  WuaImageError,
  type WuaImageFacts,
  type FinishWuaOptions,
} from './vm/wua.js';
export {
  checkSwtpm,
  startSwtpm,
  SWTPM_BINARY,
  type SwtpmPaths,
  type SwtpmExit,
  type SwtpmProcess,
  type StartSwtpmOptions,
} from './vm/tpm.js';
export { readDeltaHeader } from './delta/index.js';
export { applyDelta, DEFAULT_MAX_TARGET_SIZE } from './delta/apply.js';
export { unwrapDelta, isDcmManifest } from './delta/wrap.js';
export { decodeDcmManifest, baseManifestFromWcp, BASE_MANIFEST_RESOURCE_TYPE } from './delta/dcm.js';
export {
  parseDeltaHeader,
  type DeltaFormat,
  type Pa31Extension,
  type Pa19Info,
  type DeltaHeader,
  DeltaHeaderError,
  DELTA_FILE_TYPES,
  DELTA_FLAGS,
  HASH_ALGS,
} from './delta/header.js';
export { type ApplyOptions, type ApplyResult, type DeltaWrapper, type UnwrappedDelta } from './delta/types.js';
export {
  isPeImage,
  parsePe,
  rvaToOffset,
  listResources,
  resourceData,
  type PeSection,
  type PeDataDirectory,
  type PeImage,
  type PeResource,
  PeError,
} from './pe/index.js';
export { type ScanCategory, type ScanUpdate, type ScanIndex } from './scancab/types.js';
export { ScanCabError, ScanRulesError } from './scancab/errors.js';
export { buildScanIndex } from './scancab/reader.js';
export { loadScanIndex, openScanIndex, defaultCacheDir, type LoadOptions, type ScanMeta, type OpenedScan } from './scancab/cache.js';
export { ScanQuery, selectUpdates, type ScanSource, type PayloadFile, type UpdateView, type UpdateFilter } from './scancab/query.js';
export { parseScanRules, applyRules, type ScanRules, type RuleDecision } from './scancab/rules.js';
export { downloadsFor, type ScanDownload } from './scancab/fetch-list.js';
export { XmlPullTokenizer, type XmlPullHandler } from './util/xml-pull.js';
export { downloadAll, parseDownloadList, type DownloadItem, type DownloadOptions, type DownloadResult, type ManifestEntry } from './util/download.js';
export { matchInput, judgeInput, payloadOwners, type ScanInputFacts } from './plan/plan-scan.js';
export { type PlanScanCab, type PlanInputScan } from './plan/plan-types.js';
export {
  selectOffline,
  locatePayloads,
  checkPayload,
  stageOfflineTree,
  offlineListing,
  OFFLINE_LABEL,
  type OfflineInputs,
  type OfflineSelection,
  type OfflinePayload,
  type OfflineAllowed,
  type OfflineParams,
} from './vm/wua-offline.js';
