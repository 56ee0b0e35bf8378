/** The images a plan reads, each where it is first named. */
import type { Plan } from './plan.js';

/** An image the build reads: a stage's base, or COPY --from / RUN --mount from= an image. */
export interface ImageUse {
  readonly ref: string;
  /** How the Dockerfile uses it, for messages: "base image", "COPY --from image", ... */
  readonly what: string;
  readonly line: number;
  readonly platform: string | undefined;
}

export function imagesRead(plan: Plan): ImageUse[] {
  const uses = new Map<string, ImageUse>();
  const use = (u: ImageUse) => {
    if (!uses.has(u.ref)) uses.set(u.ref, u);
  };
  for (const stage of plan.stages) {
    if (!stage.needed) continue;
    if (typeof stage.base === 'string' && stage.base !== 'scratch') use({ ref: stage.base, what: 'base image', line: stage.line, platform: stage.platform });
    for (const step of stage.steps) {
      const what = step.instruction === 'RUN' ? 'RUN --mount image' : `${step.instruction} --from image`;
      for (const ref of step.imageRefs) use({ ref, what, line: step.line, platform: stage.platform });
    }
  }
  return [...uses.values()];
}
