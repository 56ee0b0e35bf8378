/** Small facts about planned steps that the builder and its helpers share. */
import type { Plan } from '../dockerfile/index.js';

/** Instructions that change only the image config: no layer, no key, no progress line (as in BuildKit). */
export const METADATA = new Set(['ENV', 'LABEL', 'ARG', 'USER', 'EXPOSE', 'VOLUME', 'CMD', 'ENTRYPOINT', 'STOPSIGNAL', 'SHELL', 'MAINTAINER', 'ONBUILD', 'HEALTHCHECK']);

/** How progress events name a stage. */
export const stageLabel = (plan: Plan, index: number): string => plan.stages[index]!.name ?? `stage-${index}`;
