import { createHash } from 'node:crypto';

const HASHES: Record<string, string> = { SHA1: 'sha1', SHA256: 'sha256', SHA384: 'sha384', SHA512: 'sha512', MD5: 'md5' };

/** Node's name for a hash algorithm as CBS spells it (SHA1, SHA-256, sha256), or undefined. */
export function nodeHash(alg: string): string | undefined {
  return HASHES[alg.toUpperCase().replace(/-/g, '')];
}

/** Lowercase hex digest, or undefined for an algorithm Node is not asked to know. */
export function digestHex(alg: string, data: Uint8Array): string | undefined {
  const a = nodeHash(alg);
  return a ? createHash(a).update(data).digest('hex') : undefined;
}
