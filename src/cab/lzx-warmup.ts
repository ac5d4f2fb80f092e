/**
 * A warm-up for the LZX decoder: one small stream (37 KB of output) that takes every branch of the decoder
 * except its error exits, decoded once per process before the first real LZX folder.
 *
 * Why: V8 optimizes the symbol loop from the type feedback of the branches it has run so far. On real data
 * rare branches (a long length code, a far aligned offset, a match across the ring start) first turn up
 * after the loop was optimized, and each one throws the optimized code away; in a fresh process that cost
 * 40 ms or more on a 5 MB folder (docs/performance.md). With every branch seen beforehand the loop is
 * optimized once. test/cab/lzx-warmup.test.ts checks the branches and that these bytes are exactly what
 * the test encoder (test/helpers/lzx-encode.ts) makes of test/helpers/lzx-warmup-data.ts; when they differ
 * it prints the new value.
 */
import { LzxDecoder } from './lzx.js';

/** CFDATA-sized frames of the warm-up stream: [compressed bytes in base64, uncompressed size]. */
export const LZX_WARMUP_FRAMES: readonly (readonly [string, number])[] = [
  [
    'W4CAjQAQgrt6moKIJFQAAI1I+Px/v/tfh+/xgET8gxcwDCOMmFg0wo2JCGPCiEknj4g6EzFhhBE6Rlhc+PHkHuBBJ157hdKf' +
    'aKDgPgFBwuKaeAIApjUAAA0k2Bc/FPD4w8ZjrXRgYHjhQYb6ZhYUVjPA7/luzMy0qspIqiaRg3XNtRqFx89/vmDYwFgzQI4Z' +
    '8YgpDU8kxc9GWMOsu1psFmuj9DxrHwCalley0KlXN5FNMZSccKT0dYroDUhSUxdGhRfuw95p2IYTglJYfK/dR7n5MZeip2dD' +
    'MybWEnSd5f3oNEEiWZUt3dsrQYUpDJqxElmsbJpQl8HlFDKtTE5M7l3IOZkRhFK3GKutg21qsEpjp9vCQ8CB+HC+9HaV6HLK' +
    '5L5j85LPur2eDdHc9j6pCrM/7FLAquZPANm/KIV6wGCy0CNhxLKj0ASvjlUhJqUlE453g7NTLwwTZDTy6fpp4zH3Qy0Gdqam' +
    'xj4A0AnV3E5PePnZWVXMA2XRDT9dRcaCFPzPRF0cEsWqawQ1j37b/8jph5FSW5ZlrzVMs/CL73JDfvl0hEgx6VY6LuRWapm0' +
    'fgjV73YU4aGfuurF9PZfEaEe7+6Wf/iLdD/m/ngsr3NIJa/Ph5y5ddXof8gkT++Cxf87wHzscXnDnzjJeenvwVXgUQzLkANH' +
    '099SLgo7ZEqEg1+QNhPMxri3/qxX5U8L1uV+D7UA3NkmNGG+xC/wgriKOJzTJxGih78qFjKzqSmGgtEbMAxip5HqDvUw5/sA' +
    '1Rx505Dk4v7iBpEH0APqgdlARNiI+qEPb9uZRu0VTWPXvLe147+xL1W9Jg5WZcbNqt6VTQ4ptQopvrOwsLLQt79+Uv+eidEz' +
    'ALRwF1LbKDYTrYhMTgFowCehfz9e+sJr0GgEpIXB4CNhwlBKZOADTDDCj+GeQ+bQWEDeXt9peke7Vi/rzEKosRLZTbwRAACA' +
    'KVMQKP+/+mKxJxDgNDjQ6YzcDYFbG4MSiQaV0eGSyISjKap9RlVIV6KUAwQDM4mrmRe2W27AaVR4Hv9nz09/xxbTfrNUDa5p' +
    'mObKko9V5BxgvZXMswF2XmHorz36/6H3Zz1khnkFCGCxGYywEtiBRVsBALIM3kKn4VSs2ZSFVWgtvYCPLxHaJMgEAK+RIVlp' +
    'ga2bKy9RXV6c/FNJs8PwWtLOFtnRO9V0YdEGn9URPqPCq4lxEfyKTVXeBe2wGFTclltnpIExsAikWpti9DdWj7gzAeJalW5E' +
    'ogUswEeW0qiywqbl2FLYyvyflSMrOtOmkGuLv5uoaTa4nZ5DRC17abYO2jgM8cfrd0/z+4vJ0TdsBs2nMloqXfZ4Lmvdg6vA' +
    'rBAHnzq45Vx19F5ghqgbh9ATxSeq2MknXdhvpvTrbwrrAXpkt2U4dfyQT4eyf1l2X9q/Xepft3VK+ZUBu8/GH7U+2gWTOX3K' +
    'UBVEYxxl9K+9tr49TCoM9M63m/r3XfidqJnUqBu6Og0gNH/EllO2YbpZorKDz0/uKAc5/xbeCocZuSlyawXmvJ+WSjMZr6s5' +
    'SgbVKF/NMtZx70l7viK40FIlc6e3ZpznVFQtFo87sv8Ripn995w6CoSZDPPqB7OKFypiMfp5ygFhpg6tewv6pDHmDh69DvU+' +
    '5T3c4nmGKat4b1KQU2LcALHGvDXbpmB7AD3WnYKYRALt/7k4KVg5UHlt6ey//26IQ0OduT++3P9wPCjf0IbqDyt7V2b+FV1/' +
    'XbvD0/k+c9jt8QCAgProAwAAyAAAABIAAABYaFgmPDTo+P///0A0WDRwbEpeOFRIPmo+VFBgOjRkdGR2MF5EQiJuSlBsZEYy' +
    'eFB4VmBqOOgdHQAA6ConAABkOmAickpoVHIkTiRoWHQ6JEhkVDQkdE5QPGY2cHRgaDZaJG5IKnREOnQ+VkhCIGJsKiA+SExG' +
    'Sjh4WjYoKjR4dD46WkJsXl4ybjRwMngyQmY0dnY+QEw6QDZ2PlRSRCQ0QDJCIloiMnIsbHhUVlRoUihWMkpiTF5ANkY0TDjo' +
    'ZSAAAGBETmRgVnhAPkpOInBCbjQgMCxMOihWZGxaeFRsOEZ0ZFBgMGZWbjJ2cipYUEAmSl5qZGp2QnZMaDY0NEhuajZuIlx0' +
    'RHQoIGhObl5gaGo4QF48eChcOjZSQmY26Lj///9wSHhMTDBmUC40IjboKHBQIjZqKDxyQDhwIFRUIFhocCwmbnhMTDBmUC40' +
    'IjboKHBQIjZqKDxyQDhwIFRUIFhocCwmbnhMTDBmUC40IjboKHBQIjZqKDxyQDhwIFRUIFhocCwmbnhMTDBmUC40IjboKHBQ' +
    'IjZqKDxyQDhwIFRUIFhocCwmbnhMTDBmUC40IjboKHBQIjZqKDxyQDhwIFRUIFhocCwmbnhMTDBmUC40IjboKHBQIjZqKDxy' +
    'QDhwIFRUIFhocCwmbnhMTDBmUC40IjYADSBqzUTPEolglAAAHGS4Ach/78ey3+WVXjkZlRIejE4AAIAI/wufTgP1v18GN7Cs' +
    'Jj0mrImnVaBTUDVV7yDbDRpMeMhGYPvx6fd/YH/fLP7/95LK/n/Ut8k/8jbLctS46sPZ2zKHsOcAMAAAAAAAAAAAAAAAAAAA' +
    'AAAAAAAAAAAAAA==',
    32768,
  ],
  [
    'BwAAAA==',
    2000,
  ],
];

/** The window of the warm-up stream: the smallest, so that it wraps within two frames. */
export const LZX_WARMUP_WINDOW_BITS = 15;

/**
 * Decodes shorter than this gain about what the warm-up costs (5 ms); from 1.6 MB on it saved 25-45 ms in
 * a fresh process (docs/performance.md).
 */
export const LZX_WARMUP_MIN_BYTES = 1 << 20;

let warmedUp = false;

/**
 * Decode the warm-up stream, once per process, before a decode of `expectedBytes` of LZX output (nothing
 * below LZX_WARMUP_MIN_BYTES; later calls return at once).
 */
export function warmUpLzx(expectedBytes: number): void {
  if (warmedUp || expectedBytes < LZX_WARMUP_MIN_BYTES) return;
  warmedUp = true;
  const decoder = new LzxDecoder(LZX_WARMUP_WINDOW_BITS);
  for (const [bytes, size] of LZX_WARMUP_FRAMES) decoder.decodeBlock(Buffer.from(bytes, 'base64'), size);
}
