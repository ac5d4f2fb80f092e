/** Moved to src/util/crc32.ts (the delta engine needs it below the CBS layer); kept so existing imports work. */
export { crc32 } from '../util/crc32.js';
