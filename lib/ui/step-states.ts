/**
 * What the live reporters (tty, dashboard) know of each step, kept from
 * the build's events: one place decides how start, cached, done, error,
 * explain and log events change a step.
 */
import type { BuildEvent } from '../build/index.js';

export interface StepState {
  readonly id: number;
  readonly stage: string;
  readonly index: number;
  readonly count: number;
  readonly text: string;
  readonly start: number;
  end: number | undefined;
  state: 'running' | 'cached' | 'done' | 'error';
  /** The error, for a step that failed. */
  message: string | undefined;
  /** Why it missed the cache (the first miss of its stage). */
  why: string | undefined;
  /** Its last lines of output. */
  readonly logs: string[];
}

export interface StepTracker {
  /** In the order they started. */
  readonly steps: readonly StepState[];
  get(id: number): StepState | undefined;
  /** Applies a step event (any other event is ignored); returns the step it changed, if any. */
  apply(event: BuildEvent | { readonly type: string }): StepState | undefined;
  /** Forgets every step (a new build). */
  clear(): void;
}

export function trackSteps(logLines: number): StepTracker {
  const steps: StepState[] = [];
  const byId = new Map<number, StepState>();
  return {
    steps,
    get: (id) => byId.get(id),
    apply(event) {
      if (!event.type.startsWith('step-')) return undefined;
      const e = event as BuildEvent;
      if (e.type === 'step-start') {
        const step: StepState = { id: e.id, stage: e.stage, index: e.index, count: e.count, text: e.text, start: e.time, end: undefined, state: 'running', message: undefined, why: undefined, logs: [] };
        steps.push(step);
        byId.set(e.id, step);
        return step;
      }
      if (!('id' in e)) return undefined;
      const step = byId.get(e.id);
      if (!step) return undefined;
      switch (e.type) {
        case 'step-cached':
          step.state = 'cached';
          break;
        case 'step-done':
          step.end = e.time;
          if (step.state === 'running') step.state = 'done';
          break;
        case 'step-error':
          step.end = e.time;
          step.state = 'error';
          step.message = e.message;
          break;
        case 'step-explain':
          step.why = e.text;
          break;
        case 'step-log':
          step.logs.push(e.line);
          if (step.logs.length > logLines) step.logs.shift();
          break;
        default:
          return undefined;
      }
      return step;
    },
    clear() {
      steps.length = 0;
      byId.clear();
    },
  };
}
