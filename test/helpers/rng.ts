/** A seeded linear congruential generator for mutation tests: the same seed, the same cases. rnd(n) is in 0..n-1. */
export function rng(seed: number): (n: number) => number {
  let s = seed;
  return (n) => {
    s = (s * 1103515245 + 12345) & 0x7fffffff;
    return s % n;
  };
}

/** A seeded generator of floats in [0, 1) (mulberry32), for property tests that draw sizes and characters. */
export function uniform(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** `n` pseudo-random bytes from `seed` (mulberry32): incompressible test data that is the same on every run. */
export function seededBytes(n: number, seed: number): Buffer {
  const next = uniform(seed);
  const out = Buffer.alloc(n);
  for (let i = 0; i < n; i += 4) {
    const v = Math.floor(next() * 4294967296) >>> 0;
    for (let k = 0; k < 4 && i + k < n; k++) out[i + k] = (v >>> (8 * k)) & 0xff;
  }
  return out;
}
