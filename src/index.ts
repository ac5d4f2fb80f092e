/** msu-toolkit library: everything the `msu` command does is available here. */
export * from './errors.js';
export { ByteReader } from './util/reader.js';
export { type ByteSource, FileSource, BufferSource, SliceSource } from './util/source.js';
export { parseXml, decodeText, type XmlElement } from './util/xml.js';
export { canonicalJson } from './util/json.js';
export { safeRelativePath, resolveUnder, writeFileAtomic, StagedDir } from './util/fsout.js';
export { VERSION } from './version.js';
export * from './cab/index.js';
export { buildCabinet, buildCabinetSet, type CabWriteFile, type CabWriteFolder, type CabWriteOptions } from './cab/writer.js';
export * from './msu/index.js';
export * from './cbs/index.js';
export * from './drivers/index.js';
export * from './plan/plan-types.js';
export { buildPlan, formatPlanSummary, type PlanRequest, type PlanRequestTarget } from './plan/plan.js';
export * from './plan/plan-diff.js';
export * from './plan/plan-check.js';
export { resolvePlanInputs, verifyPlanInput, copyPlanInput, type ResolvedPlanInput } from './plan/plan-inputs.js';
export * from './verify/index.js';
export * from './wim/index.js';
export * from './iso/index.js';
export * from './vm/index.js';
export * from './delta/index.js';
export * from './pe/index.js';
export { decompressLzms, LzmsError } from './delta/lzms.js';
export {
  decodeSolidResource,
  readSolidResourceHeader,
  solidResourceChunks,
  type SolidResourceHeader,
} from './wim/solid-resource.js';
export { readCompressApiHeader, isCompressApiContainer, type CompressApiHeader } from './delta/compress-api.js';
export {
  expandPackage,
  expandExpress,
  openExpressPackage,
  type ExpandPackageOptions,
  type ExpandPackageReport,
  type ExpandOptions,
  type ExpandReport,
  type ExpandedFile,
  type NotExpandedFile,
  type ExpressPackage,
} from './expand/index.js';
