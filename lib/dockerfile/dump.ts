/** BuildKit's `Node.Dump()` text, the format of its parser conformance fixtures. */
import type { InstructionNode, ParsedDockerfile } from './ast.js';
import { goQuote, goQuoteList } from './text.js';

export function dumpNode(node: InstructionNode): string {
  let out = node.command;
  if (node.flags.length > 0) out += ' ' + goQuoteList(node.flags);
  if (node.trigger) out += ' (' + dumpNode(node.trigger) + ')';
  for (const arg of node.args) out += ' ' + goQuote(arg);
  return out.trim();
}

/** One `(instruction args...)` line per instruction, each ending in a newline. */
export function dumpDockerfile(parsed: ParsedDockerfile): string {
  return parsed.nodes.map((n) => '(' + dumpNode(n) + ')\n').join('');
}
