import type { Command } from 'commander';
import type { CliContext } from '../context.js';
import { register as inspect } from './inspect.js';
import { register as cbs } from './cbs.js';
import { register as deltas } from './deltas.js';
import { register as driver } from './driver.js';
import { register as image } from './image.js';
import { register as iso } from './iso.js';
import { register as vm } from './vm.js';
import { register as run } from './run.js';
import { register as plan } from './plan.js';
import { register as verify } from './verify.js';
import { register as delta } from './delta.js';
import { register as expand } from './expand.js';
import { register as scancab } from './scancab.js';
import { register as fetch } from './fetch.js';

export type Register = (program: Command, ctx: CliContext) => void;

/** Every subcommand registers itself here; order is the order shown in --help. */
export const commands: Register[] = [
  inspect,
  cbs,
  deltas,
  driver,
  image,
  iso,
  vm,
  run,
  plan,
  verify,
  delta,
  expand,
  scancab,
  fetch,
];
