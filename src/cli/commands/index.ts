import type { Command } from 'commander';
import type { CliContext } from '../context.js';

export type Register = (program: Command, ctx: CliContext) => void;

/** Every subcommand registers itself here; order is the order shown in --help. */
export const commands: Register[] = [];
