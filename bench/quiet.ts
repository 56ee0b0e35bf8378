/**
 * Waiting until the machine is idle before a timed run: a peer that was
 * just reset (dockerd removing its images and cache in the background), or
 * a tree just written back to disk, would otherwise share the two cores
 * with whatever is measured next, and its time would count against it.
 */
import { readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';

/** Busy and total jiffies of all CPUs, from the first line of /proc/stat. */
function cpuTimes(): { busy: number; total: number } | undefined {
  try {
    const fields = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0]!.trim().split(/\s+/).slice(1).map(Number);
    const total = fields.reduce((a, b) => a + b, 0);
    const idle = (fields[3] ?? 0) + (fields[4] ?? 0); // idle + iowait
    return { busy: total - idle, total };
  } catch {
    return undefined; // no /proc: nothing to wait for
  }
}

/** Resolves once a quarter of a second passes with the CPUs at least 90% idle, or after `limitMs`. */
export async function waitQuiet(limitMs = 30_000): Promise<void> {
  const deadline = Date.now() + limitMs;
  let before = cpuTimes();
  while (before && Date.now() < deadline) {
    await sleep(250);
    const after = cpuTimes()!;
    const total = after.total - before.total;
    if (total > 0 && (after.busy - before.busy) / total < 0.1) return;
    before = after;
  }
}
