// A real OpenID provider (npm oidc-provider) for marmoset's tests.
//
// Usage: node provider.js [port]     (port 0 or absent: an ephemeral one)
//
// With TLS_CERT and TLS_KEY (PEM files) in the environment it serves HTTPS
// and its issuer is https://127.0.0.1:<port>.
//
// It listens on 127.0.0.1 at once and prints `listening <port>`; it serves
// 503 until it is told where its client comes back. Commands on stdin, one
// per line, each answered on stdout:
//   redirect <uri>     register <uri> as the clients' redirect URI and
//                      (re)start the provider           → `ready <kid>`
//   keys RS256|ES256   a new signing key (new kid): the provider is
//                      rebuilt with only that key, as after a rotation
//                                                        → `ready <kid>`
//   mangle <how>|off   alter the ID token of the next token responses,
//                      for the refusal tests (see below)  → `ok <how>`
//   conform on|off     on: profile/email claims only at the userinfo end
//                      point, not in the ID token (oidc-provider's default,
//                      OpenID Connect Core §5.4); the provider is rebuilt
//                                                        → `ready <kid>`
//
// Clients: `marmoset` (client_secret_basic) and `marmoset-post`
// (client_secret_post), secret `marmoset-test-secret`, PKCE required.
// Accounts: any login name (the development login form takes any
// password); claims sub = the login, preferred_username = the login in
// lower case, email <lower case login>@example.test, groups ["admins"] for
// `alice`, ["users"] otherwise.
// Consent is granted automatically (a first-party client).
//
// Mangling (the real provider never issues such tokens, so its own keys
// re-sign the token it just issued, with one claim changed):
//   signature  a claim changed, the signature kept (a tampered token)
//   audience   aud = "someone-else"          (re-signed)
//   expired    exp an hour ago               (re-signed)
//   nonce      another nonce                 (re-signed)
//   issuer     another iss                   (re-signed)
//   none       alg "none", no signature

import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import readline from 'node:readline';

import Provider from 'oidc-provider';

const HOST = '127.0.0.1';
const SECRET = 'marmoset-test-secret';

let handler = (req, res) => {
  res.statusCode = 503;
  res.end('not ready\n');
};
const tls = process.env.TLS_CERT && process.env.TLS_KEY;
const server = tls
  ? https.createServer({ cert: fs.readFileSync(process.env.TLS_CERT), key: fs.readFileSync(process.env.TLS_KEY) },
    (req, res) => handler(req, res))
  : http.createServer((req, res) => handler(req, res));
let redirectUris = [];
let key = newKey('RS256');
// Progress on stderr: the test harness shows it if the start hangs.
process.stderr.write('provider: key generated, listening next\n');
let mangle = null;
let conform = false;

function newKey(alg) {
  const { privateKey } = alg === 'ES256'
    ? crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' })
    : crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
  const jwk = { ...privateKey.export({ format: 'jwk' }), kid: crypto.randomUUID(), alg, use: 'sig' };
  return { alg, jwk, privateKey };
}

const b64 = (obj) => Buffer.from(JSON.stringify(obj)).toString('base64url');

function sign(header, claims) {
  const input = `${header}.${b64(claims)}`;
  const opts = key.alg === 'ES256'
    ? { key: key.privateKey, dsaEncoding: 'ieee-p1363' }
    : key.privateKey;
  return `${input}.${crypto.sign('sha256', Buffer.from(input), opts).toString('base64url')}`;
}

function mangled(idToken) {
  const [h, p, s] = idToken.split('.');
  const claims = JSON.parse(Buffer.from(p, 'base64url'));
  const now = Math.floor(Date.now() / 1000);
  switch (mangle) {
    case 'signature':
      claims.preferred_username = 'root';
      return `${h}.${b64(claims)}.${s}`;
    case 'none':
      return `${b64({ alg: 'none', typ: 'JWT' })}.${p}.`;
    case 'audience': claims.aud = 'someone-else'; break;
    case 'expired': claims.iat = now - 7200; claims.exp = now - 3600; break;
    case 'nonce': claims.nonce = 'not-the-nonce'; break;
    case 'issuer': claims.iss = 'http://evil.example'; break;
    default: return idToken;
  }
  return sign(h, claims);
}

async function findAccount(ctx, id) {
  return {
    accountId: id,
    async claims() {
      const name = id.toLowerCase();
      return {
        sub: id,
        preferred_username: name,
        email: `${name}@example.test`,
        groups: name === 'alice' ? ['admins'] : ['users'],
      };
    },
  };
}

// First-party client: consent is implied.
async function loadExistingGrant(ctx) {
  const grantId = ctx.oidc.result?.consent?.grantId
    || ctx.oidc.session.grantIdFor(ctx.oidc.client.clientId);
  if (grantId) return ctx.oidc.provider.Grant.find(grantId);
  const grant = new ctx.oidc.provider.Grant({
    clientId: ctx.oidc.client.clientId,
    accountId: ctx.oidc.session.accountId,
  });
  grant.addOIDCScope('openid profile email');
  await grant.save();
  return grant;
}

function build() {
  const client = (id, method) => ({
    client_id: id,
    client_secret: SECRET,
    redirect_uris: redirectUris,
    response_types: ['code'],
    grant_types: ['authorization_code'],
    token_endpoint_auth_method: method,
    id_token_signed_response_alg: key.alg,
  });
  const provider = new Provider(`${tls ? 'https' : 'http'}://${HOST}:${server.address().port}`, {
    clients: [client('marmoset', 'client_secret_basic'), client('marmoset-post', 'client_secret_post')],
    jwks: { keys: [key.jwk] },
    findAccount,
    claims: {
      openid: ['sub'],
      profile: ['preferred_username', 'groups'],
      email: ['email'],
    },
    // false: claims of the granted scopes in the ID token itself.
    conformIdTokenClaims: conform,
    loadExistingGrant,
    pkce: { required: () => true },
    cookies: { keys: ['marmoset test cookie key'] },
    features: { devInteractions: { enabled: true } },
  });
  provider.use(async (ctx, next) => {
    await next();
    if (!mangle || ctx.path !== '/token' || ctx.status !== 200) return;
    let body = ctx.body;
    if (typeof body === 'string' || Buffer.isBuffer(body)) body = JSON.parse(body);
    if (body?.id_token) ctx.body = { ...body, id_token: mangled(body.id_token) };
  });
  handler = provider.callback();
  console.log(`ready ${key.jwk.kid}`);
}

readline.createInterface({ input: process.stdin }).on('line', (line) => {
  const [cmd, arg] = line.trim().split(/\s+/);
  if (cmd === 'redirect') {
    redirectUris = [arg];
    build();
  } else if (cmd === 'keys') {
    key = newKey(arg || 'RS256');
    build();
  } else if (cmd === 'conform') {
    conform = arg === 'on';
    build();
  } else if (cmd === 'mangle') {
    mangle = arg === 'off' ? null : arg;
    console.log(`ok ${arg}`);
  } else if (cmd) {
    console.log(`unknown command ${cmd}`);
  }
}).on('close', () => process.exit(0));

server.listen(Number(process.argv[2] || process.env.PORT || 0), HOST, () => {
  console.log(`listening ${server.address().port}`);
});
