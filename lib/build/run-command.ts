/**
 * What a RUN step executes, as BuildKit's Dockerfile frontend decides it:
 * exec form as written; shell form through SHELL; and heredocs, in three
 * ways: a RUN that is one heredoc alone runs its body as the shell
 * command, or, when the body starts with `#!`, as a script file mounted at
 * /dev/pipes/NAME (so `#!/usr/bin/env python3` works); any other heredoc
 * use is handed to the shell whole, command line and bodies, for the
 * shell to read as here-documents.
 */
import type { PlannedStep } from '../dockerfile/index.js';

export interface RunCommand {
  readonly argv: readonly string[];
  /** Script files to mount read-only at /dev/pipes/NAME (mode 0755). */
  readonly scripts: readonly { readonly name: string; readonly content: string }[];
}

export const SCRIPT_DIR = '/dev/pipes';

/** A command line that is nothing but one heredoc opener: `<<EOF`, `<<-"EOF"`. */
const HEREDOC_ALONE = /^\s*<<-?\s*(["']?)([A-Za-z_][\w.-]*)\1\s*$/;

export function runCommand(step: PlannedStep, shell: readonly string[]): RunCommand {
  if (step.json) return { argv: [...step.args], scripts: [] };
  const line = step.args[0] ?? '';
  const docs = step.heredocs;
  if (!docs.length) return { argv: [...shell, line], scripts: [] };
  const first = docs[0]!;
  if (HEREDOC_ALONE.test(line)) {
    if (first.content.startsWith('#!')) return { argv: [...shell, `${SCRIPT_DIR}/${first.name}`], scripts: [{ name: first.name, content: first.content }] };
    return { argv: [...shell, first.content], scripts: [] };
  }
  let full = line;
  for (const doc of docs) full += `\n${doc.content}${doc.name}`;
  return { argv: [...shell, full], scripts: [] };
}
