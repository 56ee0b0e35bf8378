/** What a command shares with the CLI edge: where output goes, and source text for error excerpts. */
import type { Style } from '../ui/index.js';

export interface Session {
  readonly out: Style;
  readonly err: Style;
  /** Lines of the Dockerfile being processed, so an error can quote its line. */
  sourceLines: readonly string[] | undefined;
}
