/** The only place that writes to the terminal. */

export interface Style {
  readonly color: boolean;
}

export function styleFor(stream: NodeJS.WriteStream): Style {
  const forced = process.env.FORCE_COLOR;
  if (forced !== undefined) return { color: forced !== '0' };
  return { color: Boolean(stream.isTTY) && process.env.NO_COLOR === undefined && process.env.TERM !== 'dumb' };
}

const CODES = { red: 31, yellow: 33, cyan: 36, dim: 2, bold: 1, green: 32 } as const;
export type Paint = keyof typeof CODES;

export function paint(style: Style, what: Paint, text: string): string {
  return style.color ? `\x1b[${CODES[what]}m${text}\x1b[0m` : text;
}

export function writeOut(text: string): void {
  process.stdout.write(text.endsWith('\n') ? text : text + '\n');
}

export function writeErr(text: string): void {
  process.stderr.write(text.endsWith('\n') ? text : text + '\n');
}
