// Credentials never enter an archive (docs/RELIABILITY.md, "No credentials in archives"): the
// rule by name that the archive's walk applies to every source and every entry inside one.

/** Exact file names that hold credentials: agent CLI logins, tokens, private keys. */
const SECRET_NAMES = new Set([
  '.credentials.json', // Claude Code's OAuth login
  'auth.json', // Codex CLI (~/.codex/auth.json): API key or ChatGPT login tokens
  'oauth_creds.json', // Gemini CLI (~/.gemini/oauth_creds.json)
  'credentials', // AWS CLI (~/.aws/credentials) and others of the same habit
  '.netrc',
  '.git-credentials',
  '.npmrc', // registry auth tokens
  '.pypirc',
  'id_rsa',
  'id_dsa',
  'id_ecdsa',
  'id_ed25519',
  'id_ecdsa_sk',
  'id_ed25519_sk',
]);
/** Directories that hold nothing but keys and their configuration: left out whole. */
const SECRET_DIRS = new Set(['.ssh', '.gnupg']);
/** Dotenv and direnv files (`.env`, `.env.local`, `.envrc`), key and keystore files (`tls.key`,
 * `ca.pem`, `client.p12`...). */
const SECRET_PATTERN = /^\.env(?:rc|\..*)?$|\.(?:pem|key|p12|pfx)$/i;

/**
 * Whether a file or directory named `name` is never archived: a credentials file, a dotenv
 * file, a private key or keystore, or a `.ssh`/`.gnupg` directory. Decided by name only, so a
 * secret under an innocent name (or inside an agent's transcript) is not caught; an innocent file
 * under one of these names is left out and listed as skipped (`credentials`), never silently.
 */
export function isSecretName(name: string): boolean {
  return SECRET_NAMES.has(name) || SECRET_DIRS.has(name) || SECRET_PATTERN.test(name);
}
