/**
 * Waiting without leaking timers. `Promise.race([p, sleep(ms)])` leaves the sleep's timer
 * armed after `p` wins, and an armed timer keeps Node alive: a CLI would sit there for the
 * rest of `ms` after its work is done. These helpers always clear what they set.
 */

/** Wait until `p` settles or `ms` pass, whichever is first; true if `p` settled in time. Never rejects. */
export function settlesWithin(p: Promise<unknown>, ms: number): Promise<boolean> {
  return new Promise<boolean>((resolve) => {
    const timer = setTimeout(() => resolve(false), Math.max(0, ms));
    const done = () => {
      clearTimeout(timer);
      resolve(true);
    };
    p.then(done, done);
  });
}

/** Sleep `ms`; resolves early (false) when `signal` aborts, true after the full time. */
export function delay(ms: number, signal?: AbortSignal): Promise<boolean> {
  return new Promise<boolean>((resolve) => {
    if (signal?.aborted) return resolve(false);
    const onAbort = () => {
      clearTimeout(timer);
      resolve(false);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve(true);
    }, Math.max(0, ms));
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
