/** QEMU runner: public surface for the CLI and the guest-script generators. */
export * from './spec.js';
export * from './protocol.js';
export * from './qemu-args.js';
export * from './features.js';
export * from './qmp.js';
export * from './status-disk.js';
export * from './runner.js';
