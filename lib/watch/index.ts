/** lib/watch: the dev loop (watch, rebuild, run the app). */
export { runDev, type DevController, type DevOptions } from './dev.js';
export type { DevEvent, DevEventSink } from './events.js';
