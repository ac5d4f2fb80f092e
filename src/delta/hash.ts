import { createHash } from 'node:crypto';
import { md2 } from './md2.js';
import { md4 } from './md4.js';

/** Hash `data` with the CryptoAPI ALG_ID a delta header names; undefined when the id is not a hash we know. */
export function hashForAlgId(algId: number, data: Uint8Array): Uint8Array | undefined {
  switch (algId) {
    case 0x8001:
      return md2(data);
    case 0x8002:
      return md4(data);
    case 0x8003:
      return createHash('md5').update(data).digest();
    case 0x8004:
      return createHash('sha1').update(data).digest();
    case 0x800c:
      return createHash('sha256').update(data).digest();
    case 0x800d:
      return createHash('sha384').update(data).digest();
    case 0x800e:
      return createHash('sha512').update(data).digest();
    default:
      return undefined;
  }
}
