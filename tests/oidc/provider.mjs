// A real OpenID provider for Tabard's sign-in tests: the certified `oidc-provider` package,
// configured from a JSON file (argv[2]) the test writes: issuer, port, clients, signing keys
// (private JWKs) and the people it knows, each with their groups. Its built-in sign-in pages
// take any password; a person the test removes (DELETE /_test/users/ID) can no longer sign in
// and their refresh tokens stop working, as at a real provider.
import { readFileSync } from 'node:fs';
import Provider from 'oidc-provider';

const config = JSON.parse(readFileSync(process.argv[2], 'utf8'));
const users = new Map(Object.entries(config.users));

const provider = new Provider(config.issuer, {
  clients: config.clients,
  jwks: config.jwks,
  // Groups (and the rest) in the ID token itself, as Entra ID and Keycloak put them.
  conformIdTokenClaims: false,
  claims: {
    openid: ['sub'],
    profile: ['name', 'preferred_username'],
    email: ['email'],
    groups: ['groups'],
    tabard: ['collar_number', 'division'],
  },
  scopes: ['openid', 'offline_access', 'profile', 'email', 'groups', 'tabard'],
  features: {
    devInteractions: { enabled: true },
    deviceFlow: { enabled: true },
    revocation: { enabled: true },
  },
  pkce: { required: () => true },
  ttl: { IdToken: 300, AccessToken: 300, DeviceCode: 600, AuthorizationCode: 60 },
  async findAccount(_ctx, id) {
    const user = users.get(id);
    if (!user) return undefined;
    return { accountId: id, async claims() { return { sub: id, ...user }; } };
  },
});
provider.proxy = false;

// The test's own controls: add, change or remove a person.
provider.use(async (ctx, next) => {
  const match = ctx.path.match(/^\/_test\/users\/([^/]+)$/);
  if (!match) return next();
  const id = decodeURIComponent(match[1]);
  if (ctx.method === 'DELETE') {
    users.delete(id);
    ctx.status = 204;
    return undefined;
  }
  if (ctx.method === 'PUT') {
    const chunks = [];
    for await (const chunk of ctx.req) chunks.push(chunk);
    users.set(id, JSON.parse(Buffer.concat(chunks).toString('utf8')));
    ctx.status = 204;
    return undefined;
  }
  ctx.status = 405;
  return undefined;
});

const server = provider.listen(config.port, '127.0.0.1', () => {
  console.log(`oidc-provider listening on ${config.issuer}`);
});
process.on('SIGTERM', () => server.close(() => process.exit(0)));
