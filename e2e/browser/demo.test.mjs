// Real-browser test of the local demo (make test-browser): headless Chromium opens the site
// behind the gateway, is sent to Dex, logs in on Dex's own form, lands on the app with the
// identity headers the plugin set, logs out and is asked to log in again. Every step leaves a
// screenshot in out/. Real listeners only: Playwright's request interception did not see the
// redirect to the callback, so nothing here is intercepted or mocked.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, mkdir, rm, writeFile } from 'node:fs/promises';
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
  const left = (await browser.cookies(site)).filter((c) => c.name.startsWith('_oidc_session') && c.name !== '_oidc_session_state');
  assert.deepEqual(left.map((c) => c.name), [], 'logout must clear the session cookies');

  await page.goto(`${site}/reports`);
  assert.ok(page.url().startsWith(`${issuer}/auth`), `after logout the app must ask for a login again, got ${page.url()}`);
  await page.locator('input[name="password"]').waitFor();
  await shot(page, '05-app-asks-login-again');
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
