export * from './types.js';
export { CabError, parseCfHeader, parseCfFolders, parseCfFiles, decodeCompression, fatDateTime, isCabinet } from './header.js';
export { csumCompute, cfdataChecksum } from './checksum.js';
export { MszipDecoder, MszipError } from './mszip.js';
export { LzxDecoder, LzxError } from './lzx.js';
export { decodeFolder, StoredFolderSource, type CabPart, type FolderSpan } from './folder.js';
export { Cabinet, type CabEntry, type ExtractOptions, type ExtractResult } from './cabinet.js';
