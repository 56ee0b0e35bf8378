/** `npm run bench`: every benchmark, each printing ratios against a floor measured in the same run. */
import { benchParse } from './parse.js';

const only = process.argv[2];
const benches: Record<string, () => string[]> = { parse: () => benchParse() };
for (const [name, run] of Object.entries(benches)) {
  if (only && only !== name) continue;
  for (const line of run()) console.log(line);
}
