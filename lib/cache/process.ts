import { readFileSync } from 'node:fs';

/**
 * Whether a process still runs (a lock or temp file whose owner is gone
 * may be taken over). A zombie (killed, not yet reaped by its parent) has
 * stopped for good: it counts as gone.
 */
export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
  try {
    // The state follows the command name, which is in parentheses and may itself contain them.
    const stat = readFileSync(`/proc/${pid}/stat`, 'latin1');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return true; // no /proc to ask: kill(0) said it exists
  }
}
