/** QEMU runner: public surface for the CLI and the guest-script generators. */
export * from './spec.js';
export * from './protocol.js';
export * from './qemu-args.js';
export * from './features.js';
export * from './qmp.js';
export * from './status-disk.js';
export * from './runner.js';
export * from './report.js';
export * from './dism.js';
export * from './dism-output.js';
export * from './wua.js';
export { generateDismWorker, dismLayout, servicedImages, DEFAULT_LABELS, STATUS_FILES, EXIT_CODES, WARNING_CODES, type DismImageLayout, type DismStepLayout, type DismWorkerFile, type DismServicedImage, type DismWinreCopy } from './guest/dism-worker.js';
export { generateWuaRunner, type WuaRunnerOptions, type WuaFilter } from './guest/wua-runner.js';
export * from './tpm.js';
export { RunProgress, describeTimeouts, clock } from './progress.js';
export { checkWatchdogs, nextDeadline, type WatchClock, type WatchContext, type WatchVerdict } from './watchdogs.js';
export { step as bootMachineStep, initialBootState, checkNewStart, type BootPhase, type BootEvent, type BootState, type BootConfig, type Effect as BootEffect, type Outcome as BootOutcome, type RunView } from './boot-machine.js';
