/** A seeded linear congruential generator for mutation tests: the same seed, the same cases. rnd(n) is in 0..n-1. */
export function rng(seed: number): (n: number) => number {
  let s = seed;
  return (n) => {
    s = (s * 1103515245 + 12345) & 0x7fffffff;
    return s % n;
  };
}
