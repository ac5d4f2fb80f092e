export * from './errors.js';
export { ByteReader } from './util/reader.js';
export { type ByteSource, FileSource, BufferSource, SliceSource } from './util/source.js';
export { parseXml, type XmlElement } from './util/xml.js';
export { canonicalJson } from './util/json.js';
export { VERSION } from './version.js';
