/** `strata login` and `strata logout`: registry credentials, checked before they are kept. */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { UsageError } from '../errors/index.js';
import { checkCredentials, removeCredentials, saveCredentials } from '../image/index.js';
import { writeOut } from '../ui/index.js';
import type { Session } from './session.js';

export const loginUsage = `usage: strata login -u USER (--password-stdin | -p PASSWORD) [--insecure-registry] REGISTRY
       strata logout REGISTRY

login checks the credentials with the registry, then keeps them in
$XDG_CONFIG_HOME/strata/auth.json (mode 0600; $STRATA_AUTH_FILE moves it).
strata also reads ~/.docker/config.json. --password-stdin reads the
password from standard input, which keeps it out of the shell history.`;

export async function loginCommand(argv: string[], _session: Session): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      username: { type: 'string', short: 'u' },
      password: { type: 'string', short: 'p' },
      'password-stdin': { type: 'boolean' },
      'insecure-registry': { type: 'boolean' },
    },
  });
  const [registry] = positionals;
  if (!registry || !values.username) throw new UsageError('login needs -u USER and a REGISTRY', { hint: 'echo "$TOKEN" | strata login -u ci --password-stdin localhost:5000' });
  const password = values['password-stdin'] ? readFileSync(0, 'utf8').replace(/\r?\n$/, '') : values.password;
  if (!password) throw new UsageError('login needs a password', { hint: 'pipe it into --password-stdin, or pass -p' });
  const credentials = { username: values.username, password };
  await checkCredentials(registry, credentials, { insecure: values['insecure-registry'] ? [registry] : [] });
  const file = saveCredentials(registry, credentials);
  writeOut(`logged in to ${registry} as ${values.username} (kept in ${file})`);
  return 0;
}

export async function logoutCommand(argv: string[], _session: Session): Promise<number> {
  const { positionals } = parseArgs({ args: argv, allowPositionals: true, options: {} });
  const [registry] = positionals;
  if (!registry) throw new UsageError('logout needs a REGISTRY', { hint: 'strata logout localhost:5000' });
  writeOut(removeCredentials(registry) ? `logged out of ${registry}` : `not logged in to ${registry}`);
  return 0;
}
