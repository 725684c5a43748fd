// A real OpenID provider for oidc-wasm's end-to-end tests: panva's oidc-provider 9.13.3 (an
// OpenID-certified implementation) configured for what Dex cannot show, namely refresh-token
// rotation and RP-initiated logout. internal/testidp/oidcprovider.go installs and starts it; it
// can also be run by hand after `npm ci` in this directory:
//
//   node server.mjs --port=9090 --config=op.json     (or OIDC_PROVIDER_PORT / OIDC_PROVIDER_CONFIG)
//
// (--exit-on-stdin-close, which the harness adds, ends the server when its stdin closes.)
//
// The configuration is one JSON document, given as a file (--config=<path>) or inline in the
// environment variable OIDC_PROVIDER_CONFIG:
//
//   {
//     "client": {"client_id": "...", "client_secret": "...", "redirect_uris": ["..."],
//                "post_logout_redirect_uris": ["..."]},
//     "ttl": {"IdToken": 60, "AccessToken": 60, "RefreshToken": 3600},   // seconds, optional
//     "jwks": {"keys": [ ...private JWKs... ]},                          // optional
//     "store": "/path/to/file"                                            // optional
//   }
//
// Without --config, the environment variables OIDC_PROVIDER_ID_TOKEN_TTL,
// OIDC_PROVIDER_ACCESS_TOKEN_TTL, OIDC_PROVIDER_REFRESH_TOKEN_TTL (seconds) and OIDC_PROVIDER_JWKS
// (JSON) override the document's fields, for quick runs by hand. With --config, as the harness
// runs it, the environment is not read, so a variable left in a developer's shell cannot change
// what a test configured.
//
// Without "jwks" a fresh RSA key is generated at every start, so restarting on the same port is
// a signing-key rotation; with it the keys survive a restart (or rotate to the set given).
//
// Without "store" everything the provider issues lives in its memory and dies with it. With it,
// every change is also appended to that file and replayed at start (FileAdapter below), so a
// provider killed and restarted still honours the refresh tokens it issued, as a real IdP with a
// database does.
//
// There is one user, whatever the login form is given: a fixed account keeps the tests' expected
// claims in one place. The login form takes the user's email or subject and any non-empty
// password; anything else is shown the form again with status 401, as Dex does.
//
// Only 127.0.0.1 is bound. Every request, and every error oidc-provider reports, is logged to
// stdout, one line each, for the Go harness to show when a test fails.
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { appendFileSync, existsSync, readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { parseArgs } from 'node:util';

import Provider from 'oidc-provider';

// The only account. Its claims are what the Go tests and the plugin's claim mapping expect.
const USER = Object.freeze({
  sub: 'user-42',
  email: 'bob@example.com',
  email_verified: true,
  name: 'Bob',
  groups: ['devs', 'admins'],
});

// Defaults for lifetimes the caller does not set, in seconds. They are set explicitly because
// oidc-provider's own defaults differ per artifact and warn when left alone.
const DEFAULT_TTL = Object.freeze({
  IdToken: 3600,
  AccessToken: 3600,
  RefreshToken: 24 * 3600,
  AuthorizationCode: 60,
  Interaction: 600,
  Session: 24 * 3600,
  Grant: 24 * 3600,
});

// The lifetimes the environment may set when the server runs without --config.
const ENV_TTL = Object.freeze({
  IdToken: 'OIDC_PROVIDER_ID_TOKEN_TTL',
  AccessToken: 'OIDC_PROVIDER_ACCESS_TOKEN_TTL',
  RefreshToken: 'OIDC_PROVIDER_REFRESH_TOKEN_TTL',
});

function log(...parts) {
  process.stdout.write(`${new Date().toISOString()} ${parts.join(' ')}\n`);
}

function fail(message) {
  process.stderr.write(`oidc-provider test server: ${message}\n`);
  process.exit(2);
}

function readConfig() {
  const { values } = parseArgs({
    options: {
      port: { type: 'string' },
      config: { type: 'string' },
      'exit-on-stdin-close': { type: 'boolean' },
    },
  });
  const port = Number(values.port ?? process.env.OIDC_PROVIDER_PORT);
  if (!Number.isInteger(port) || port <= 0 || port > 65535) {
    fail('need a TCP port: --port=<n> or OIDC_PROVIDER_PORT');
  }
  let text;
  try {
    text = values.config ? readFileSync(values.config, 'utf8') : process.env.OIDC_PROVIDER_CONFIG;
  } catch (err) {
    fail(`reading ${values.config}: ${err.message}`);
  }
  if (!text) {
    fail('need a configuration: --config=<file> or OIDC_PROVIDER_CONFIG (JSON)');
  }
  let config;
  try {
    config = JSON.parse(text);
  } catch (err) {
    fail(`the configuration is not JSON: ${err.message}`);
  }
  if (!values.config) {
    for (const [name, variable] of Object.entries(ENV_TTL)) {
      if (process.env[variable]) {
        config.ttl = { ...config.ttl, [name]: Number(process.env[variable]) };
      }
    }
    if (process.env.OIDC_PROVIDER_JWKS) {
      try {
        config.jwks = JSON.parse(process.env.OIDC_PROVIDER_JWKS);
      } catch (err) {
        fail(`OIDC_PROVIDER_JWKS is not JSON: ${err.message}`);
      }
    }
  }
  const client = config.client ?? {};
  for (const field of ['client_id', 'client_secret']) {
    if (typeof client[field] !== 'string' || client[field] === '') {
      fail(`client.${field} is required`);
    }
  }
  if (!Array.isArray(client.redirect_uris) || client.redirect_uris.length === 0) {
    fail('client.redirect_uris needs at least one URI');
  }
  const ttl = { ...DEFAULT_TTL };
  for (const [name, seconds] of Object.entries(config.ttl ?? {})) {
    if (!(name in DEFAULT_TTL) || !Number.isInteger(seconds) || seconds <= 0) {
      fail(`ttl.${name} must be a known artifact with a positive whole number of seconds`);
    }
    ttl[name] = seconds;
  }
  return {
    port, client, ttl, jwks: config.jwks ?? generateJWKS(), store: config.store, exitOnStdinClose: values['exit-on-stdin-close'],
  };
}

// FileAdapter is oidc-provider's storage adapter over one map, every change appended to a file
// as a JSON line and the file replayed at start. Writes are synchronous, so a change the
// provider has answered for is on disk even if the process is killed right after.
class FileAdapter {
  static entries = new Map(); // "<model>:<id>" -> { payload, expiresAt }

  static file;

  static open(file) {
    FileAdapter.file = file;
    if (!existsSync(file)) {
      return;
    }
    for (const line of readFileSync(file, 'utf8').split('\n')) {
      if (line) {
        FileAdapter.apply(JSON.parse(line));
      }
    }
  }

  static apply(op) {
    if (op.set) {
      FileAdapter.entries.set(op.key, { payload: op.set, expiresAt: op.expiresAt });
    } else if (op.del) {
      FileAdapter.entries.delete(op.key);
    }
  }

  static record(op) {
    FileAdapter.apply(op);
    appendFileSync(FileAdapter.file, `${JSON.stringify(op)}\n`);
  }

  constructor(model) {
    this.model = model;
  }

  key(id) {
    return `${this.model}:${id}`;
  }

  async upsert(id, payload, expiresIn) {
    const expiresAt = expiresIn ? Date.now() + expiresIn * 1000 : undefined;
    FileAdapter.record({ key: this.key(id), set: payload, expiresAt });
  }

  async find(id) {
    const entry = FileAdapter.entries.get(this.key(id));
    if (!entry || (entry.expiresAt && entry.expiresAt < Date.now())) {
      return undefined;
    }
    return entry.payload;
  }

  async findByUid(uid) {
    for (const [key, entry] of FileAdapter.entries) {
      if (key.startsWith(`${this.model}:`) && entry.payload.uid === uid) {
        return this.find(key.slice(this.model.length + 1));
      }
    }
    return undefined;
  }

  async findByUserCode(userCode) {
    for (const [key, entry] of FileAdapter.entries) {
      if (key.startsWith(`${this.model}:`) && entry.payload.userCode === userCode) {
        return this.find(key.slice(this.model.length + 1));
      }
    }
    return undefined;
  }

  async consume(id) {
    const entry = FileAdapter.entries.get(this.key(id));
    if (entry) {
      FileAdapter.record({ key: this.key(id), set: { ...entry.payload, consumed: Math.floor(Date.now() / 1000) }, expiresAt: entry.expiresAt });
    }
  }

  async destroy(id) {
    FileAdapter.record({ key: this.key(id), del: true });
  }

  async revokeByGrantId(grantId) {
    for (const [key, entry] of FileAdapter.entries) {
      if (entry.payload.grantId === grantId) {
        FileAdapter.record({ key, del: true });
      }
    }
  }
}

// generateJWKS makes this process's own signing key. oidc-provider would otherwise fall back to
// a development key published in its source, the same in every run, which could hide a plugin
// that caches keys it should have refetched.
function generateJWKS() {
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  return { keys: [{ ...privateKey.export({ format: 'jwk' }), use: 'sig', alg: 'RS256' }] };
}

const {
  port, client, ttl, jwks, store, exitOnStdinClose,
} = readConfig();
if (store) {
  FileAdapter.open(store);
}
const issuer = `http://127.0.0.1:${port}`;

const provider = new Provider(issuer, {
  clients: [{
    client_id: client.client_id,
    client_secret: client.client_secret,
    redirect_uris: client.redirect_uris,
    post_logout_redirect_uris: client.post_logout_redirect_uris ?? [],
    grant_types: ['authorization_code', 'refresh_token'],
    response_types: ['code'],
    token_endpoint_auth_method: 'client_secret_basic',
  }],
  jwks,
  ...(store ? { adapter: FileAdapter } : {}),
  // Cookies are signed with a per-process key: sessions need not survive a restart.
  cookies: { keys: [randomBytes(32).toString('base64url')] },
  responseTypes: ['code'],
  // oidc-provider asks confidential clients for PKCE only when it chooses to (FAPI, public
  // clients); the plugin always sends it, so the tests make it mandatory to catch a regression.
  // 9.x knows only S256.
  pkce: { required: () => true },
  // "groups" under profile gives the tests groups with the standard scopes; the groups scope of
  // its own lets a plugin configured the Dex way (scope "groups") get them too.
  claims: {
    openid: ['sub'],
    email: ['email', 'email_verified'],
    profile: ['name', 'groups'],
    groups: ['groups'],
  },
  scopes: ['openid', 'email', 'profile', 'groups', 'offline_access'],
  // By default oidc-provider puts user claims into the ID token only when no access token is
  // issued (response_type=id_token) and serves them from userinfo otherwise. The plugin reads the
  // ID token, as it does with Dex, so the claims go there.
  conformIdTokenClaims: false,
  ttl,
  // A refresh token for every code grant that asked for offline_access (the library's default,
  // written out because the tests depend on it). The consent step below grants offline_access.
  issueRefreshToken: async (ctx, c, code) => c.grantTypeAllowed('refresh_token') && code.scopes.has('offline_access'),
  // Every refresh returns a new refresh token and consumes the old one. Presenting a consumed one
  // again is taken as theft: oidc-provider then revokes the whole grant, so the newest refresh
  // token dies as well.
  rotateRefreshToken: true,
  features: {
    // The development interactions take the login typed as the account id (so the subject would
    // be whatever was typed) and print warnings; the interactions below replace them.
    devInteractions: { enabled: false },
    rpInitiatedLogout: { enabled: true },
    revocation: { enabled: true },
    introspection: { enabled: true },
  },
  async findAccount(ctx, id) {
    if (id !== USER.sub) {
      return undefined;
    }
    return { accountId: USER.sub, claims: async () => ({ ...USER }) };
  },
  async renderError(ctx, out, error) {
    log('render_error', JSON.stringify(out), error?.stack ?? String(error));
    ctx.type = 'html';
    ctx.body = page('Error', Object.entries(out).map(([k, v]) => `<p><b>${esc(k)}</b>: ${esc(v)}</p>`).join(''));
  },
});

for (const event of ['server_error', 'authorization.error', 'grant.error', 'end_session.error',
  'introspection.error', 'revocation.error', 'userinfo.error', 'jwks.error', 'discovery.error',
  'interaction.error']) {
  provider.on(event, (ctx, err) => {
    log(event, err?.error ?? '', `"${err?.error_description ?? err?.message ?? ''}"`,
      err?.cause ? `cause="${err.cause.message ?? err.cause}"` : '');
  });
}
provider.on('grant.success', (ctx) => log('grant.success', ctx.oidc.params.grant_type));
provider.on('end_session.success', () => log('end_session.success'));

// OpenID Connect Core section 11 lets a provider ignore offline_access unless the request carries
// prompt=consent, and oidc-provider does: it drops the scope, so no refresh token. Dex honours
// offline_access without it and the plugin does not send it, so authorization requests asking
// for offline_access get "consent" added to their prompt here, before the provider reads them.
// The consent page is then shown at every login, which the Go Browser submits. prompt=none is
// left alone: it forbids any page, and the request goes on without offline_access.
provider.use(async (ctx, next) => {
  if (ctx.method === 'GET' && ctx.path === '/auth') {
    const { scope, prompt = '' } = ctx.query;
    if (typeof scope === 'string' && typeof prompt === 'string' && scope.split(' ').includes('offline_access')) {
      const prompts = prompt.split(' ').filter(Boolean);
      if (!prompts.includes('consent') && !prompts.includes('none')) {
        ctx.query = { ...ctx.query, prompt: [...prompts, 'consent'].join(' ') };
        log('offline_access requested: prompt set to', JSON.stringify(ctx.query.prompt));
      }
    }
  }
  await next();
});

function esc(value) {
  return String(value).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

function page(title, body) {
  return `<!DOCTYPE html><html><head><meta charset="utf-8"><title>${esc(title)}</title></head>`
    + `<body><h1>${esc(title)}</h1>${body}</body></html>`;
}

function send(res, status, title, body) {
  res.statusCode = status;
  res.setHeader('Content-Type', 'text/html; charset=utf-8');
  res.setHeader('Cache-Control', 'no-store');
  res.end(page(title, body));
}

function loginPage(res, uid, status, error) {
  const message = error ? `<div id="login-error">${esc(error)}</div>` : '';
  send(res, status, 'Sign-in', `${message}<form method="post" action="/interaction/${esc(uid)}/login">`
    + '<input type="text" name="login" autofocus>'
    + '<input type="password" name="password">'
    + '<button type="submit">Sign-in</button></form>');
}

function consentPage(res, uid, details, params) {
  const scopes = (details.missingOIDCScope ?? []).map((s) => `<li>${esc(s)}</li>`).join('');
  send(res, 200, 'Authorize', `<p>${esc(params.client_id)} asks for:</p><ul>${scopes}</ul>`
    + `<form method="post" action="/interaction/${esc(uid)}/consent">`
    + '<input type="hidden" name="prompt" value="consent">'
    + '<button type="submit">Continue</button></form>');
}

async function readForm(req) {
  let body = '';
  for await (const chunk of req) {
    body += chunk;
    if (body.length > 65536) {
      throw new Error('form too large');
    }
  }
  return new URLSearchParams(body);
}

// interaction serves the login and consent pages oidc-provider sends the browser to, at
// /interaction/<uid>, and reports their results back to it.
async function interaction(req, res, path) {
  const [, , uid, action] = path.split('/');
  const details = await provider.interactionDetails(req, res);
  if (details.uid !== uid) {
    send(res, 400, 'Error', '<p>interaction mismatch</p>');
    return;
  }
  const { prompt, params, grantId, session } = details;
  if (req.method === 'GET' && action === undefined) {
    if (prompt.name === 'login') {
      loginPage(res, uid, 200);
    } else if (prompt.name === 'consent') {
      consentPage(res, uid, prompt.details, params);
    } else {
      send(res, 501, 'Error', `<p>prompt ${esc(prompt.name)} is not implemented</p>`);
    }
    return;
  }
  if (req.method === 'GET' && action === 'abort') {
    await provider.interactionFinished(req, res, {
      error: 'access_denied', error_description: 'End-User aborted interaction',
    }, { mergeWithLastSubmission: false });
    return;
  }
  if (req.method === 'POST' && action === 'login' && prompt.name === 'login') {
    const form = await readForm(req);
    const login = (form.get('login') ?? '').trim().toLowerCase();
    if ((login !== USER.email && login !== USER.sub) || !form.get('password')) {
      log('login.rejected', JSON.stringify(login));
      loginPage(res, uid, 401, 'Invalid username or password.');
      return;
    }
    await provider.interactionFinished(req, res, { login: { accountId: USER.sub } }, {
      mergeWithLastSubmission: false,
    });
    return;
  }
  if (req.method === 'POST' && action === 'consent' && prompt.name === 'consent') {
    await readForm(req);
    // Grant everything the request is missing, offline_access included: that is what makes
    // oidc-provider issue a refresh token.
    const grant = grantId
      ? await provider.Grant.find(grantId)
      : new provider.Grant({ accountId: session.accountId, clientId: params.client_id });
    if (prompt.details.missingOIDCScope) {
      grant.addOIDCScope(prompt.details.missingOIDCScope.join(' '));
    }
    if (prompt.details.missingOIDCClaims) {
      grant.addOIDCClaims(prompt.details.missingOIDCClaims);
    }
    await provider.interactionFinished(req, res, { consent: { grantId: await grant.save() } }, {
      mergeWithLastSubmission: true,
    });
    return;
  }
  send(res, 400, 'Error', `<p>${esc(req.method)} ${esc(path)} does not fit prompt ${esc(prompt.name)}</p>`);
}

const handle = provider.callback();
const server = createServer((req, res) => {
  const started = Date.now();
  const path = new URL(req.url, issuer).pathname;
  res.on('finish', () => log(req.method, path, res.statusCode, `${Date.now() - started}ms`));
  if (!path.startsWith('/interaction/')) {
    handle(req, res);
    return;
  }
  interaction(req, res, path).catch((err) => {
    log('interaction failed', path, err?.stack ?? String(err));
    if (!res.headersSent) {
      send(res, err?.statusCode ?? 500, 'Error', `<p>${esc(err?.error_description ?? err?.message ?? err)}</p>`);
    }
  });
});

server.on('error', (err) => {
  // The Go harness recognises EADDRINUSE in this line and retries on another port.
  log('listen failed:', err.code ?? '', err.message);
  process.exit(1);
});

server.listen(port, '127.0.0.1', () => {
  log(`oidc-provider 9.13.3 listening on ${issuer} (node ${process.version}, client ${client.client_id})`);
});

function shutdown(why) {
  log(`${why}: shutting down`);
  server.close(() => process.exit(0));
  server.closeAllConnections();
}

for (const signal of ['SIGTERM', 'SIGINT']) {
  process.on(signal, () => shutdown(signal));
}

// The Go harness holds the other end of stdin. If the test binary dies without stopping the
// server (a `go test` timeout, a kill), the pipe closes and the server exits instead of living on
// with its port.
if (exitOnStdinClose) {
  process.stdin.on('end', () => shutdown('stdin closed'));
  process.stdin.on('error', () => shutdown('stdin failed'));
  process.stdin.resume();
}
