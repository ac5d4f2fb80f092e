export * from './types.js';
export { ScanCabError, ScanRulesError } from './errors.js';
export { PackageXmlReader, type PackageXml } from './package-xml.js';
export { parseCoreFragment, parseExtendedFragment, parseLocalizedFragment } from './fragments.js';
export { buildScanIndex, sha256File } from './reader.js';
export { loadScanIndex, openScanIndex, defaultCacheDir, type LoadOptions, type ScanMeta, type OpenedScan } from './cache.js';
export { ScanQuery, MemorySource, type ScanSource, selectUpdates, base64ToHex, type PayloadFile, type UpdateView, type UpdateFilter } from './query.js';
export { parseScanRules, applyRules, decide, candidates, type ScanRules, type RuleDecision } from './rules.js';
export { downloadsFor, type ScanDownload } from './fetch-list.js';
