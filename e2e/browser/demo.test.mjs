// Real-browser test of the local demo (make test-browser): headless Chromium opens the site
// behind the gateway, is sent to Dex, logs in on Dex's own form, lands on the app with the
// identity headers the plugin set, logs out and is asked to log in again. Then the plugin's
// error answers as a user meets them: the 403 page of the demo's authorization rule, the page
// after the IdP refused a login or after a stale callback, the 503 page while the IdP hangs,
// and the 401 JSON a script on the page gets. Every step leaves a screenshot in out/. Real
// listeners only: Playwright's request interception did not see the redirect to the callback,
// so nothing here is intercepted or mocked.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '../..');
const out = path.join(here, 'out');

const site = 'http://127.0.0.1:8080';
const issuer = 'http://127.0.0.1:5556/dex';
const user = 'alice@example.com';
const password = 'password';
const ports = { 8080: 'gateway', 8081: 'app', 5556: 'Dex' };
// What no error page or error body may show: the demo's secrets, the plugin's cookies, a
// token (every JWT starts with eyJ), and which rule or claim refused the user.
const secrets = ['demo-secret', 'ZGVtby1jb29raWUtc2VjcmV0LW9ubHktZm9yLWRlbW8=', '_oidc_session', 'eyJ', 'admins', 'groups'];
// Envoy's x-request-id (a UUID; the embedded gateway makes the same), shown on every error.
const requestIdLine = /Request ID: ([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})/;

// The demo prints this line once everything listens.
const readyLine = /Open\s+http:\/\/127\.0\.0\.1:8080\//;
// go run compiles first; Dex and the module load in a few seconds after that.
const startLimitMs = 180_000;

let demo; // { child, output(), exited }
let browser;
let userDataDir;

before(async () => {
  await mkdir(out, { recursive: true });
  for (const [port, what] of Object.entries(ports)) {
    if (!(await portFree(Number(port)))) {
      throw new Error(`127.0.0.1:${port} (${what}) is in use: stop the running demo (make demo) first`);
    }
  }
  demo = await startDemo();
  userDataDir = await mkdtemp(path.join(os.tmpdir(), 'oidc-wasm-chromium-'));
  browser = await chromium.launchPersistentContext(userDataDir, {
    executablePath: process.env.CHROMIUM_PATH || '/usr/bin/chromium',
    headless: true,
    viewport: { width: 1100, height: 800 },
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
});

after(async () => {
  await browser?.close();
  if (demo && demo.child.exitCode === null && demo.child.signalCode === null) {
    demo.child.kill('SIGKILL');
  }
  if (demo) {
    await writeFile(path.join(out, 'demo.log'), demo.output());
  }
  if (userDataDir) {
    await rm(userDataDir, { recursive: true, force: true });
  }
});

test('an API client without a session gets 401, not a login page', async () => {
  const res = await fetch(`${site}/api/items`, { headers: { accept: 'application/json' }, redirect: 'manual' });
  assert.equal(res.status, 401);
  assert.match(res.headers.get('www-authenticate') ?? '', /^Bearer/);
});

test('login at Dex in a real browser, identity headers at the app, logout', { timeout: 120_000 }, async () => {
  const page = browser.pages()[0] ?? (await browser.newPage());

  await page.goto(`${site}/`);
  assert.ok(page.url().startsWith(`${issuer}/auth`), `expected Dex's login page, got ${page.url()}`);
  await page.locator('input[name="login"]').waitFor();
  await shot(page, '01-dex-login');

  await page.locator('input[name="login"]').fill(user);
  await page.locator('input[name="password"]').fill(password);
  await shot(page, '02-credentials');
  await Promise.all([page.waitForURL(`${site}/`), page.locator('button[type="submit"]').click()]);
  await shot(page, '03-app');

  const email = page.locator('tr.identity', { hasText: 'x-auth-request-email' }).locator('td').nth(1);
  assert.equal((await email.textContent())?.trim(), user, 'the app must see x-auth-request-email from the session');
  assert.ok(await page.locator('tr.identity', { hasText: 'x-auth-request-user' }).count(), 'x-auth-request-user missing');
  assert.ok(!(await page.content()).includes('_oidc_session'), "the plugin's cookies must not reach the app");
  const session = (await browser.cookies(site)).find((c) => c.name === '_oidc_session');
  assert.ok(session, 'no session cookie after login');
  assert.equal(session.httpOnly, true);
  assert.equal(session.sameSite, 'Lax');

  await page.locator('#logout').click();
  try {
    await page.waitForURL((u) => u.href.startsWith(`${issuer}/auth`), { timeout: 15_000 });
  } catch {
    await shot(page, '04-after-logout');
    assert.fail(`after /oauth2/logout the browser is at ${page.url()}, not at Dex's login page: ` +
      'is logout implemented by the plugin (build/plugin.wasm rebuilt)?');
  }
  await page.locator('input[name="login"]').waitFor();
  await shot(page, '04-after-logout');
  const left = (await browser.cookies(site)).filter((c) => c.name.startsWith('_oidc_session') && !c.name.startsWith('_oidc_session_state'));
  assert.deepEqual(left.map((c) => c.name), [], 'logout must clear the session cookies');

  await page.goto(`${site}/reports`);
  assert.ok(page.url().startsWith(`${issuer}/auth`), `after logout the app must ask for a login again, got ${page.url()}`);
  await page.locator('input[name="password"]').waitFor();
  await shot(page, '05-app-asks-login-again');
});

// The demo's configuration reserves /admin for the group "admins"; Dex's static users have no
// groups, so alice is signed in everywhere else and refused there.
test('authorization: a signed-in user outside the rule gets the 403 page, other paths still open', { timeout: 120_000 }, async () => {
  const page = await freshPage();
  try {
    await login(page, `${site}/`);
    const loads = [];
    page.on('request', (r) => loads.push(r.url()));
    const [res] = await Promise.all([page.waitForResponse(`${site}/admin`), page.locator('#admin').click()]);
    await page.waitForLoadState('load');
    await shot(page, '06-forbidden-403');
    assert.equal(res.status(), 403);
    await assertErrorPage(page, res, 'Access denied', /signed in, but this account may not use this page/);
    assert.ok(!(await page.content()).includes(user), 'the 403 page must not name the user');
    // A way out for the wrong account: the page links to the plugin's logout path.
    assert.equal(await page.getByRole('link', { name: 'Sign out' }).getAttribute('href'), '/oauth2/logout');
    // Self-contained: the page loads nothing else (it must render when nothing else of the
    // site does). Chromium's own favicon probe is not the page's doing.
    assert.deepEqual(loads.filter((u) => !u.endsWith('/favicon.ico')), [`${site}/admin`]);

    // The same page on a phone-sized screen: the viewport meta tag and max-width keep it readable.
    await page.setViewportSize({ width: 390, height: 700 });
    await shot(page, '07-forbidden-403-narrow');
    const box = await page.locator('main').boundingBox();
    assert.ok(box && box.x >= 0 && box.x + box.width <= 390, `the message box overflows a 390 px screen: ${JSON.stringify(box)}`);
    await page.setViewportSize({ width: 1100, height: 800 });

    // A script of the app gets the refusal as JSON, not as a page.
    const api = await pageFetch(page, '/admin/users', { accept: 'application/json' });
    assert.equal(api.status, 403);
    assert.match(api.contentType, /^application\/json/);
    const body = JSON.parse(api.body);
    assert.equal(body.error, 'access_denied');
    assert.match(body.request_id ?? '', /^[0-9a-f-]{36}$/);
    assertNoSecrets(api.body, 'the 403 JSON');

    // The rule covers /admin only: the rest of the site still lets alice in.
    const other = await page.goto(`${site}/reports/2026`);
    assert.equal(other.status(), 200);
    assert.equal((await page.locator('h1').textContent())?.trim(), `Hello, ${user}`);
  } finally {
    await page.close();
  }
});

// An IdP that refuses a login (the user declined, or is not allowed to use the client) sends
// the browser back with error=. The plugin shows its own page: the code, never the IdP's
// free text, which anyone can put in a link.
test('the IdP refuses the login: the login-failed page, the state cookie cleared', { timeout: 60_000 }, async () => {
  const page = await freshPage();
  try {
    const state = await startLogin(page);
    assert.ok(await stateCookie(), 'starting a login must set the state cookie');
    const description = 'The <b>user</b> said no; visit evil.example';
    const res = await page.goto(`${site}/oauth2/callback?error=access_denied&error_description=${encodeURIComponent(description)}&state=${encodeURIComponent(state)}`);
    await shot(page, '08-idp-error');
    assert.equal(res.status(), 403, 'access_denied from the IdP is a 403');
    await assertErrorPage(page, res, 'Login failed', /did not complete the login \(access_denied\)/);
    const html = await page.content();
    assert.ok(!html.includes('evil.example') && !html.includes('<b>user</b>'), "the IdP's error_description must not be shown");
    assert.equal(await stateCookie(), undefined, 'a failed login must clear the state cookie');
    assert.equal(page.url(), res.url(), 'an error page must not redirect');
  } finally {
    await page.close();
  }
});

// A callback this browser did not start (a bookmarked or replayed callback URL, or a login
// that timed out) must not be exchanged: the plugin explains instead of looping to the IdP.
test('a callback with a state this browser did not start: the login-failed page (400)', { timeout: 60_000 }, async () => {
  const page = await freshPage();
  try {
    await startLogin(page);
    const res = await page.goto(`${site}/oauth2/callback?code=stolen-code&state=not-this-browsers-state`);
    await shot(page, '09-bad-state');
    assert.equal(res.status(), 400);
    await assertErrorPage(page, res, 'Login failed', /login state is missing, expired or does not match/);
    assert.ok(await stateCookie(), "a callback of someone else's login must not cancel the login this browser started");
  } finally {
    await page.close();
  }
});

// A browser reopened on several tabs of an expired session starts a login in each. Every
// login has its own state cookie, so each tab ends on its own page, whatever order the
// user signs in.
test('several tabs log in at once: each ends on its own page', { timeout: 120_000 }, async () => {
  await browser.clearCookies();
  const targets = ['/reports?tab=1', '/reports?tab=2', '/reports?tab=3'].map((p) => `${site}${p}`);
  const pages = [];
  try {
    for (const target of targets) {
      const page = await browser.newPage();
      pages.push(page);
      await page.goto(target);
      assert.ok(page.url().startsWith(`${issuer}/auth`), `expected Dex's login page, got ${page.url()}`);
      await page.locator('input[name="login"]').waitFor();
    }
    assert.equal((await browser.cookies(site)).filter((c) => c.name.startsWith('_oidc_session_state_')).length, 3,
      'each login must have its own state cookie');
    for (const i of [2, 0, 1]) {
      await pages[i].locator('input[name="login"]').fill(user);
      await pages[i].locator('input[name="password"]').fill(password);
      await Promise.all([pages[i].waitForURL(targets[i]), pages[i].locator('button[type="submit"]').click()]);
      assert.equal((await pages[i].locator('h1').textContent())?.trim(), `Hello, ${user}`, `tab ${i + 1} must be signed in`);
    }
    await shot(pages[1], '11-several-tabs');
    assert.equal(await stateCookie(), undefined, 'every completed login must clear its state cookie');
  } finally {
    for (const page of pages) await page.close();
  }
});

// The demo's cookie_domain shares the session with every host under demo.localhost (which
// browsers resolve to this machine): one login at app.demo.localhost serves
// grafana.demo.localhost without going to Dex, and a logout on either ends it for both.
test('single sign-on across subdomains: one login serves a sibling host, one logout ends both', { timeout: 120_000 }, async () => {
  await browser.clearCookies();
  const app = 'http://app.demo.localhost:8080';
  const grafana = 'http://grafana.demo.localhost:8080';
  const page = await browser.newPage();
  try {
    await login(page, `${app}/reports`);
    assert.equal((await page.locator('h1').textContent())?.trim(), `Hello, ${user}`);
    const shared = (await browser.cookies(grafana)).filter((c) => c.name === '_oidc_session');
    assert.deepEqual(shared.map((c) => c.domain), ['.demo.localhost'], 'the session cookie must carry Domain=demo.localhost');

    await page.goto(`${grafana}/dashboards`);
    assert.equal(page.url(), `${grafana}/dashboards`, 'the sibling host must not ask for a login');
    assert.equal((await page.locator('h1').textContent())?.trim(), `Hello, ${user}`);
    await shot(page, '12-sibling-subdomain');

    await page.goto(`${grafana}/oauth2/logout`);
    await page.waitForURL((u) => u.href.startsWith(`${issuer}/auth`), { timeout: 15_000 });
    await page.goto(`${app}/reports`);
    assert.ok(page.url().startsWith(`${issuer}/auth`), `after a logout on the sibling, app must ask for a login, got ${page.url()}`);
  } finally {
    await page.close();
  }
});

// The IdP stops answering between the login and the callback (Dex frozen with SIGSTOP: it
// still accepts connections, like a hung IdP, but answers nothing, and the demo does not see
// it exit). The plugin's token call times out after timeout_ms (5 s in the demo) and the user
// gets a 503 page instead of a hang or a redirect loop. Once Dex answers again, logins work.
// This is the IdP-unreachable 503 the demo can produce: the "Sign-in unavailable" 503
// answers requests while the IdP's discovery or keys are not loaded yet, and the demo only
// opens its gateway once they are.
test('the IdP hangs at the callback: 503 page, then logins work again', { timeout: 120_000 }, async () => {
  const page = await freshPage();
  const dexPid = await findDex();
  try {
    const state = await startLogin(page);
    process.kill(dexPid, 'SIGSTOP');
    const started = Date.now();
    const res = await page.goto(`${site}/oauth2/callback?code=issued-before-the-outage&state=${encodeURIComponent(state)}`, { timeout: 60_000 });
    const waited = Date.now() - started;
    process.kill(dexPid, 'SIGCONT');
    await shot(page, '10-idp-unreachable-503');
    assert.equal(res.status(), 503);
    await assertErrorPage(page, res, 'Login failed', /identity provider cannot be reached/);
    assert.ok(waited >= 4_000, `the 503 came after ${waited} ms: the plugin must have waited for the token call's timeout`);
    assert.equal(await stateCookie(), undefined, 'a failed login must clear the state cookie');
  } finally {
    process.kill(dexPid, 'SIGCONT');
  }
  try {
    await login(page, `${site}/reports`);
    assert.equal((await page.locator('h1').textContent())?.trim(), `Hello, ${user}`, 'a login after the outage must work');
  } finally {
    await page.close();
  }
});

// A script on a page of the site whose session is gone (here: never was) must get a 401 it
// can act on, never a redirect to a login page it cannot follow. /healthz is the demo's skip
// path: a page of the site the browser reaches without a session.
test('a script without a session gets 401 JSON with WWW-Authenticate, and XHR no redirect', { timeout: 60_000 }, async () => {
  const page = await freshPage();
  try {
    const home = await page.goto(`${site}/healthz`);
    assert.equal(home.status(), 200);
    const api = await pageFetch(page, '/api/items', { accept: 'application/json' });
    assert.equal(api.status, 401);
    assert.match(api.contentType, /^application\/json/);
    assert.match(api.wwwAuthenticate, /^Bearer\b/);
    const body = JSON.parse(api.body);
    assert.equal(body.error, 'unauthorized');
    assert.equal(typeof body.message, 'string');
    assert.match(body.request_id ?? '', /^[0-9a-f-]{36}$/);
    assertNoSecrets(api.body, 'the 401 JSON');

    // An XMLHttpRequest (jQuery and older frameworks mark theirs with X-Requested-With) that
    // accepts HTML is still not a page load: 401, and it stays on the site.
    const xhr = await page.evaluate(() => new Promise((resolve) => {
      const r = new XMLHttpRequest();
      r.open('GET', '/reports/2026');
      r.setRequestHeader('Accept', 'text/html,*/*');
      r.setRequestHeader('X-Requested-With', 'XMLHttpRequest');
      r.onloadend = () => resolve({ status: r.status, url: r.responseURL, wwwAuthenticate: r.getResponseHeader('www-authenticate') });
      r.send();
    }));
    assert.equal(xhr.status, 401);
    assert.equal(xhr.url, `${site}/reports/2026`, 'an XHR must not be redirected to the IdP');
    assert.match(xhr.wwwAuthenticate ?? '', /^Bearer\b/);

    // Rendered for the screenshot: what the script received.
    await page.setContent(`<pre id="answer"></pre>`);
    await page.locator('#answer').evaluate((el, a) => {
      el.textContent = `GET /api/items (Accept: application/json)\n\nHTTP ${a.status}\ncontent-type: ${a.contentType}\n` +
        `www-authenticate: ${a.wwwAuthenticate}\n\n${JSON.stringify(JSON.parse(a.body), null, 2)}`;
    }, api);
    await shot(page, '11-api-401-json');
  } finally {
    await page.close();
  }
});

test('Ctrl-C stops the demo cleanly: exit 0, Dex and every listener gone', { timeout: 30_000 }, async () => {
  demo.child.kill('SIGINT');
  const code = await demo.exited;
  assert.equal(code, 0, `the demo exited with ${code}:\n${demo.output().slice(-2000)}`);
  for (const [port, what] of Object.entries(ports)) {
    assert.ok(await portFree(Number(port)), `127.0.0.1:${port} (${what}) still listens after Ctrl-C`);
  }
});

async function shot(page, name) {
  await page.screenshot({ path: path.join(out, `${name}.png`), fullPage: true });
}

// freshPage opens a tab with no cookies of the site: no session, no login state.
async function freshPage() {
  await browser.clearCookies();
  return browser.newPage();
}

// startLogin loads a page of the site without a session, so the plugin sends the browser to
// Dex with a state cookie, and returns the state the plugin put in that redirect (Dex's own
// login page URL carries a different "state", its request id).
async function startLogin(page) {
  const toDex = page.waitForRequest((r) => r.url().startsWith(`${issuer}/auth?`));
  await page.goto(`${site}/reports`);
  const state = new URL((await toDex).url()).searchParams.get('state');
  assert.ok(state, 'the redirect to Dex carries no state');
  await page.locator('input[name="login"]').waitFor();
  return state;
}

// login signs alice in on Dex's form, starting from target, and waits to be back there.
async function login(page, target) {
  await page.goto(target);
  assert.ok(page.url().startsWith(`${issuer}/auth`), `expected Dex's login page, got ${page.url()}`);
  await page.locator('input[name="login"]').fill(user);
  await page.locator('input[name="password"]').fill(password);
  await Promise.all([page.waitForURL(target), page.locator('button[type="submit"]').click()]);
}

async function stateCookie() {
  return (await browser.cookies(site)).find((c) => c.name.startsWith('_oidc_session_state_'));
}

// assertErrorPage checks what every error page of the plugin promises: HTML that is not
// cached, the title as heading, a way back to the start, the request id to quote to
// support, its own styles, and nothing secret.
async function assertErrorPage(page, res, title, message) {
  assert.match(res.headers()['content-type'] ?? '', /^text\/html/);
  assert.match(res.headers()['cache-control'] ?? '', /no-store/);
  assert.equal(await page.title(), title);
  assert.equal((await page.locator('h1').textContent())?.trim(), title);
  const text = await page.locator('body').innerText();
  assert.match(text, message);
  assert.match(text, requestIdLine, 'the error page must show the request id');
  assert.equal(await page.locator('a', { hasText: 'Start again' }).getAttribute('href'), '/');
  assert.ok(await page.evaluate(() => document.styleSheets.length > 0), 'the error page has no styles');
  assertNoSecrets(await page.content(), `the "${title}" page`);
}

function assertNoSecrets(text, what) {
  for (const s of secrets) {
    assert.ok(!text.includes(s), `${what} shows ${JSON.stringify(s)}:\n${text}`);
  }
}

// pageFetch runs fetch() in the page, as the site's own scripts would (same origin, the
// browser's cookies, Sec-Fetch-Mode: cors), and returns what a script can see.
function pageFetch(page, url, headers) {
  return page.evaluate(async ([u, h]) => {
    const r = await fetch(u, { headers: h, redirect: 'manual' });
    return { status: r.status, contentType: r.headers.get('content-type') ?? '', wwwAuthenticate: r.headers.get('www-authenticate') ?? '', body: await r.text() };
  }, [url, headers]);
}

// findDex returns the pid of the demo's Dex: the process named dex among the demo's
// descendants (DEMO_BIN runs Dex as its child; `go run` adds a level).
async function findDex() {
  const parents = new Map();
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = await readFile(`/proc/${entry}/stat`, 'utf8');
      // pid (comm) state ppid ...: comm may hold spaces and parentheses, so split after the last ')'.
      const comm = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      parents.set(Number(entry), { comm, ppid });
    } catch {
      // The process ended while we looked.
    }
  }
  const descends = (pid) => {
    for (let p = pid, hops = 0; p > 1 && hops < 10; p = parents.get(p)?.ppid ?? 0, hops++) {
      if (p === demo.child.pid) return true;
    }
    return false;
  };
  const found = [...parents].filter(([pid, p]) => p.comm === 'dex' && pid !== demo.child.pid && descends(pid));
  assert.equal(found.length, 1, `expected one Dex process under the demo (pid ${demo.child.pid}), found ${found.length}`);
  return found[0][0];
}

function portFree(port) {
  return new Promise((resolve) => {
    const srv = net.createServer();
    srv.once('error', () => resolve(false));
    srv.listen(port, '127.0.0.1', () => srv.close(() => resolve(true)));
  });
}

// startDemo runs DEMO_BIN (run.sh builds it) or `go run ./examples/demo` from the repository
// root, and resolves once the demo says it is ready.
function startDemo() {
  const [cmd, args] = process.env.DEMO_BIN ? [process.env.DEMO_BIN, []] : ['go', ['run', './examples/demo']];
  const child = spawn(cmd, args, { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  const exited = new Promise((resolve) => child.once('exit', (code, signal) => resolve(code ?? signal)));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`the demo was not ready within ${startLimitMs / 1000} s:\n${output}`)), startLimitMs);
    const onData = (chunk) => {
      output += chunk;
      if (readyLine.test(output)) {
        clearTimeout(timer);
        resolve({ child, exited, output: () => output });
      }
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.once('error', (err) => { clearTimeout(timer); reject(err); });
    exited.then((code) => { clearTimeout(timer); reject(new Error(`the demo exited (${code}) before it was ready:\n${output}`)); });
  });
}
