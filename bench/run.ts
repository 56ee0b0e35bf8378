/** `npm run bench`: every benchmark, each printing ratios against a floor measured in the same run. */
import { benchBuild } from './build.js';
import { benchCi } from './ci.js';
import { benchEdit } from './edit.js';
import { benchHash } from './hash.js';
import { benchMultistage } from './multistage.js';
import { benchParse } from './parse.js';
import { benchWatch } from './watch.js';

const only = process.argv[2];
const benches: Record<string, () => string[] | Promise<string[]>> = { parse: () => benchParse(), hash: () => benchHash(), build: () => benchBuild(), edit: () => benchEdit(), multistage: () => benchMultistage(), watch: () => benchWatch(), ci: () => benchCi() };
if (only && !(only in benches)) {
  console.error(`unknown benchmark "${only}"; benchmarks: ${Object.keys(benches).join(', ')}`);
  process.exit(2);
}
for (const [name, run] of Object.entries(benches)) {
  if (only && only !== name) continue;
  for (const line of await run()) console.log(line);
}
