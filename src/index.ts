/** msu-toolkit library: everything the `msu` command does is available here. */
export * from './errors.js';
export { ByteReader } from './util/reader.js';
export { type ByteSource, FileSource, BufferSource, SliceSource } from './util/source.js';
export { parseXml, decodeText, type XmlElement } from './util/xml.js';
export { canonicalJson } from './util/json.js';
export { safeRelativePath, resolveUnder, writeFileAtomic, StagedDir } from './util/fsout.js';
export { byteString, showPath, NAME_MAX, type StageOptions } from './util/fsout.js';
export { VERSION } from './version.js';
export * from './cab/index.js';
export { buildCabinet, buildCabinetSet, type CabWriteFile, type CabWriteFolder, type CabWriteOptions } from './cab/writer.js';
export * from './msu/index.js';
export * from './cbs/index.js';
export * from './drivers/index.js';
export { buildPlan, formatPlanSummary, type PlanRequest, type PlanRequestTarget } from './cbs/plan.js';
export * from './cbs/plan-diff.js';
export * from './cbs/verify.js';
export * from './wim/index.js';
export * from './vm/index.js';
