// Inspect one file in this process and print timing, peak RSS and bytes read as JSON.
import { Cabinet } from '../../dist/src/cab/cabinet.js';
import { inspectCabinet } from '../../dist/src/msu/inspect.js';
import { FileSource } from '../../dist/src/util/source.js';

const file = process.argv[2];
const t0 = process.hrtime.bigint();
const src = await FileSource.open(file);
const report = await inspectCabinet(await Cabinet.open(src), file, src.size);
const ms = Number(process.hrtime.bigint() - t0) / 1e6;
console.log(JSON.stringify({ ms, bytesRead: src.bytesRead, size: src.size, rssMB: process.resourceUsage().maxRSS / 1024, members: report.packages.reduce((n, p) => n + p.counts.files, 0) }));
