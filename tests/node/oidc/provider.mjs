// A real OpenID provider (oidc-provider, a certified implementation) for tollhouse's OAuth tests.
//
//   node provider.mjs [PORT]        (0 or nothing: a free port)
//
// Prints one line, `listening http://127.0.0.1:PORT`, once it accepts connections. Everything it knows
// lives in memory and dies with the process. Clients:
//   user-app   public, authorization code + PKCE, refresh tokens (a person through an MCP client)
//   cli        public, device authorization grant (RFC 8628) + refresh tokens (`tollhouse login`)
//   bot        client_secret_basic, client credentials (a CI job)
//   bot-opaque client_secret_basic, client credentials, opaque access tokens (introspection tests)
//   bot-read   client_secret_basic, client credentials limited to tollhouse:read
//   tollhouse-rs client_secret_basic, allowed to introspect (the resource server itself)
// Accounts: alice (alice@acme.example, groups sre), bob (bob@acme.example, groups dev).
// Access tokens for any resource indicator (RFC 8707) are JWTs with that audience, signed RS256 by the
// current signing key, and carry email and groups.
//
// Test-only admin endpoints (this process is only ever on 127.0.0.1):
//   POST /admin/rotate  a new signing key, published first in the JWKS (old keys stay published)
//   GET  /admin/keys    the private signing keys (so a test can forge tokens with the real key)
//   GET  /admin/stats   {"jwks_requests": n}
// User pages: GET /interaction/:uid shows a login form; POST it with login=<account> to sign in and
// consent to what was asked in one step.
import crypto from 'node:crypto';
import { once } from 'node:events';
import http from 'node:http';
import querystring from 'node:querystring';

import Provider from 'oidc-provider';

const port = Number(process.argv[2] || 0);
const SCOPES = ['tollhouse:read', 'tollhouse:call'];
const ACCOUNTS = {
  alice: { email: 'alice@acme.example', groups: ['sre'], name: 'Alice' },
  bob: { email: 'bob@acme.example', groups: ['dev'], name: 'Bob' },
};

function newKey(n) {
  const { privateKey } = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
  return { ...privateKey.export({ format: 'jwk' }), kid: `key-${n}-${crypto.randomBytes(4).toString('hex')}`, alg: 'RS256', use: 'sig' };
}

// A pool made up front (the provider's keystore is fixed at construction); `published` says which the
// JWKS shows, `signing` which signs new access tokens.
const pool = [newKey(0), newKey(1), newKey(2), newKey(3)];
let published = 1;
let jwksRequests = 0;
const jwksLog = [];
const signingKid = () => pool[published - 1].kid;

const server = http.createServer();
server.listen(port, '127.0.0.1');
await once(server, 'listening');
const issuer = `http://127.0.0.1:${server.address().port}`;

const provider = new Provider(issuer, {
  clients: [
    {
      client_id: 'user-app', token_endpoint_auth_method: 'none', application_type: 'native',
      grant_types: ['authorization_code', 'refresh_token'], response_types: ['code'],
      redirect_uris: ['http://127.0.0.1/callback', 'http://localhost/callback'],
    },
    {
      client_id: 'cli', token_endpoint_auth_method: 'none', application_type: 'native',
      grant_types: ['urn:ietf:params:oauth:grant-type:device_code', 'refresh_token'], response_types: [], redirect_uris: [],
    },
    { client_id: 'bot', client_secret: 'bot-secret', grant_types: ['client_credentials'], response_types: [], redirect_uris: [] },
    { client_id: 'bot-opaque', client_secret: 'bot-secret', grant_types: ['client_credentials'], response_types: [], redirect_uris: [] },
    {
      client_id: 'bot-read', client_secret: 'bot-secret', grant_types: ['client_credentials'], response_types: [], redirect_uris: [],
      scope: 'tollhouse:read',
    },
    { client_id: 'tollhouse-rs', client_secret: 'rs-secret', grant_types: [], response_types: [], redirect_uris: [] },
  ],
  jwks: { keys: pool },
  scopes: ['openid', 'offline_access', 'email', 'profile', ...SCOPES],
  claims: { openid: ['sub'], email: ['email'], profile: ['name'] },
  pkce: { required: () => true },
  ttl: { DeviceCode: 120, AccessToken: 600 },
  async findAccount(ctx, id) {
    const account = ACCOUNTS[id];
    if (!account) return undefined;
    return { accountId: id, async claims() { return { sub: id, email: account.email, name: account.name }; } };
  },
  async extraTokenClaims(ctx, token) {
    const account = ACCOUNTS[token.accountId];
    return account ? { email: account.email, groups: account.groups } : undefined;
  },
  async loadExistingGrant(ctx) {
    // Consent once per (account, client); a refresh keeps the grant it was issued under.
    const grantId = ctx.oidc.result?.consent?.grantId || ctx.oidc.session.grantIdFor(ctx.oidc.client.clientId);
    return grantId ? ctx.oidc.provider.Grant.find(grantId) : undefined;
  },
  interactions: { url: (ctx, interaction) => `/interaction/${interaction.uid}` },
  features: {
    devInteractions: { enabled: false },
    clientCredentials: { enabled: true },
    deviceFlow: { enabled: true },
    introspection: {
      enabled: true,
      allowedPolicy: async (ctx, client) => client.clientId === 'tollhouse-rs',
    },
    revocation: { enabled: true },
    resourceIndicators: {
      enabled: true,
      defaultResource: async (ctx, client, oneOf) => oneOf,
      useGrantedResource: async () => true,
      getResourceServerInfo: async (ctx, resource, client) => ({
        scope: SCOPES.join(' '),
        audience: resource,
        accessTokenTTL: 600,
        accessTokenFormat: client.clientId === 'bot-opaque' ? 'opaque' : 'jwt',
        jwt: { sign: { alg: 'RS256', kid: signingKid() } },
      }),
    },
  },
});
provider.proxy = false;

const send = (res, status, body, type = 'application/json') => {
  res.writeHead(status, { 'content-type': type, 'cache-control': 'no-store' });
  res.end(typeof body === 'string' ? body : JSON.stringify(body));
};

async function readForm(req) {
  const chunks = [];
  for await (const chunk of req) chunks.push(chunk);
  return querystring.parse(Buffer.concat(chunks).toString());
}

async function interaction(req, res, uid) {
  const details = await provider.interactionDetails(req, res);
  if (details.uid !== uid) return send(res, 400, { error: 'interaction mismatch' });
  if (req.method === 'GET') {
    return send(res, 200, `<!doctype html><form method="post" action="/interaction/${uid}">
<input name="login" placeholder="account"><button type="submit">Sign in</button></form>
<!-- prompt ${JSON.stringify(details.prompt)} params ${JSON.stringify(details.params)} -->`, 'text/html');
  }
  const form = await readForm(req);
  const accountId = String(form.login || '');
  if (!ACCOUNTS[accountId]) return send(res, 400, { error: `no account ${accountId}` });
  const { params } = details;
  const grant = new provider.Grant({ accountId, clientId: params.client_id });
  const asked = String(params.scope || '').split(' ').filter(Boolean);
  grant.addOIDCScope(asked.join(' ') || 'openid');
  const resources = [params.resource].flat().filter(Boolean);
  for (const resource of resources) grant.addResourceScope(resource, asked.filter((s) => SCOPES.includes(s)).join(' '));
  const grantId = await grant.save();
  return provider.interactionFinished(req, res, { login: { accountId }, consent: { grantId } }, { mergeWithLastSubmission: false });
}

const callback = provider.callback();
server.on('request', async (req, res) => {
  try {
    const url = new URL(req.url, issuer);
    const path = url.pathname;
    if (path === '/admin/rotate' && req.method === 'POST') {
      if (published >= pool.length) return send(res, 409, { error: 'key pool exhausted' });
      published += 1;
      return send(res, 200, { kid: signingKid() });
    }
    if (path === '/admin/keys') return send(res, 200, { keys: pool.slice(0, published), signing: signingKid() });
    if (path === '/admin/stats') return send(res, 200, { jwks_requests: jwksRequests, log: jwksLog.slice(-10) });
    if (path === '/jwks' && req.method === 'GET') {
      // Only the published keys, newest first (what a provider shows while it rotates).
      jwksRequests += 1;
      jwksLog.push(`${Date.now()} ${req.headers['user-agent']} ${req.socket.remotePort}`);
      const keys = pool.slice(0, published).reverse().map(({ kty, n, e, kid, alg, use }) => ({ kty, n, e, kid, alg, use }));
      // A fresh connection per fetch: the count a test reads is then one per fetch, never a retry
      // of a request on a kept-alive connection the server was closing.
      res.setHeader('connection', 'close');
      return send(res, 200, { keys }, 'application/jwk-set+json');
    }
    if (path === '/device/auth' && req.method === 'POST') {
      // The provider leaves `interval` out (RFC 8628: the client then waits 5 s between polls);
      // tests poll every second.
      const end = res.end.bind(res);
      res.end = (body, ...rest) => {
        try {
          const parsed = JSON.parse(String(body));
          if (parsed.device_code) body = JSON.stringify({ ...parsed, interval: 1 });
          res.setHeader?.('content-length', Buffer.byteLength(body));
        } catch { /* not JSON: as is */ }
        return end(body, ...rest);
      };
    }
    const m = path.match(/^\/interaction\/([\w-]+)$/);
    if (m) return await interaction(req, res, m[1]);
    return callback(req, res);
  } catch (err) {
    return send(res, 500, { error: String(err && err.message || err) });
  }
});

process.stdout.write(`listening ${issuer}\n`);
process.on('SIGTERM', () => process.exit(0));
