// The browser scenario of tests/browser.rs: headless Debian Chromium, driven by
// playwright-core's library API (no test runner, no browser download), against a running
// `conda-store-server standalone`.
//
// The React UI: log in, create an environment from YAML against a local channel, watch
// its build complete, see its packages, edit it (a second build), switch the active build
// back, delete it. The admin pages: watch the live log of a build, cancel it, see it
// CANCELED with the Python conda-store's last log line.
//
// Environment: BASE (server URL, no trailing slash), CHANNEL (a local channel holding the
// standard test packages), SLOW_CHANNEL (the same channel over HTTP, answering repodata
// after a long delay), SCREENSHOTS (folder), CHROMIUM (default /usr/bin/chromium),
// NODE_PATH (the node_modules folder scripts/browser-tools.sh fills).
// Prints each step; exits 1 at the first failed step, after a screenshot of the page.

"use strict";

const assert = require("assert/strict");
const path = require("path");
const { chromium } = require("playwright-core");

const base = process.env.BASE.replace(/\/$/, "");
const channel = process.env.CHANNEL;
const slowChannel = process.env.SLOW_CHANNEL;
const screenshots = process.env.SCREENSHOTS;
const user = "browser-user";
const environment = "hello-browser";
const timeout = 60000;
const started = Date.now();
let shots = 0;

/** Prints a step with the seconds since the start. */
function step(text) {
  console.log(`[${((Date.now() - started) / 1000).toFixed(1)}s] ${text}`);
}

/** Saves a numbered screenshot of the page. */
async function shoot(page, name) {
  shots += 1;
  const file = path.join(screenshots, `${String(shots).padStart(2, "0")}-${name}.png`);
  await page.screenshot({ path: file, fullPage: true });
  step(`screenshot ${path.basename(file)}`);
}

/** Calls the API from the page, with its login cookie; answers { status, body }. */
async function api(page, method, route, body) {
  return page.evaluate(
    async ({ url, method, body }) => {
      const response = await fetch(url, {
        method,
        credentials: "include",
        headers: body ? { "Content-Type": "application/json" } : {},
        body: body ? JSON.stringify(body) : undefined,
      });
      return { status: response.status, body: await response.json() };
    },
    { url: `${base}${route}`, method, body }
  );
}

/** Polls `read` every 500 ms until `check` holds for its value; answers that value. */
async function until(what, read, check, limit = timeout) {
  const deadline = Date.now() + limit;
  for (;;) {
    const value = await read();
    if (check(value)) return value;
    if (Date.now() > deadline) {
      throw new Error(`timed out waiting for ${what}; last value: ${JSON.stringify(value)}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
}

/** The environment as the API shows it (its `data`), or null when it does not exist. */
async function environmentData(page) {
  const answer = await api(page, "GET", `/api/v1/environment/${user}/${environment}/`);
  return answer.status === 200 ? answer.body.data : null;
}

/** The status of a build, from the API. */
async function buildStatus(page, id) {
  const answer = await api(page, "GET", `/api/v1/build/${id}/`);
  return answer.body.data && answer.body.data.status;
}

/** Waits until the build completes (API), failing at once when it fails. */
async function buildCompleted(page, id) {
  await until(`build ${id} to complete`, () => buildStatus(page, id), (status) => {
    if (status === "FAILED" || status === "CANCELED") throw new Error(`build ${id} is ${status}`);
    return status === "COMPLETED";
  });
}

/** Writes `text` into the UI's YAML editor (CodeMirror), replacing what it holds. */
async function writeYaml(page, text) {
  const editor = page.locator(".cm-content");
  await editor.click();
  await page.keyboard.press("Control+A");
  await page.keyboard.press("Delete");
  // insertText: no auto-indentation, unlike typing.
  await page.keyboard.insertText(text);
  await until("the YAML editor to hold the text", () => editor.innerText(), (value) =>
    value.includes(text.trim().split("\n").pop().trim())
  );
}

/** The UI part: log in, create, watch, edit, switch the active build, delete. */
async function ui(page) {
  await page.goto(`${base}/ui/`);
  await page.getByText("Select an environment to show details").waitFor();
  await page.getByRole("button", { name: "Log in" }).click();
  await page.waitForURL(/\/login\//);
  await page.fill("input[name=username]", user);
  await page.fill("input[name=password]", "password");
  await page.click("button[type=submit]");
  await page.waitForURL(/\/ui\//);
  await page.getByRole("button", { name: "Log out" }).waitFor();
  step(`logged in as ${user}`);
  await shoot(page, "logged-in");

  await page.getByRole("link", { name: `Create a new environment in the ${user} namespace` }).click();
  await page.waitForURL(/\/new-environment$/);
  await page.getByRole("textbox", { name: "Environment name" }).fill(environment);
  await page
    .getByRole("textbox", { name: "Enter here the description of your environment" })
    .fill("Made by the browser test");
  await page.getByRole("checkbox", { name: "GUI YAML" }).click();
  await writeYaml(page, `channels:\n  - ${channel}\ndependencies:\n  - hello\n`);
  // The UI commits the name and description 300 ms after the last keystroke (debounced).
  await page.waitForTimeout(600);
  await shoot(page, "create-from-yaml");
  await page.getByRole("button", { name: "Create", exact: true }).click();
  await page.waitForURL(new RegExp(`/ui/${user}/${environment}$`));
  step("created the environment through the UI");

  const first = await until("the environment to exist", () => environmentData(page), Boolean);
  const firstBuild = first.current_build_id;
  await buildCompleted(page, firstBuild);
  // The page polls the build; a reload only shortens the wait.
  await page.getByText("Status: Completed").waitFor({ timeout: 10000 }).catch(() => page.reload());
  await page.getByText("Status: Completed").waitFor();
  await assert.doesNotReject(
    page.getByRole("combobox").filter({ hasText: / - Active$/ }).waitFor(),
    "the build selector names the build Active"
  );
  for (const row of ["hello 1.0.0", "hello-data 0.1.0", "libhello 2.0.0"]) {
    await page.getByRole("row", { name: row, exact: true }).waitFor();
  }
  step(`build ${firstBuild} completed; installed packages: hello, hello-data, libhello 2.0.0`);
  await shoot(page, "environment-available");

  await page.getByRole("button", { name: "Edit", exact: true }).click();
  await page.getByRole("checkbox", { name: "GUI YAML" }).click();
  await writeYaml(page, `channels:\n  - ${channel}\ndependencies:\n  - hello\n  - libhello=1\n`);
  await shoot(page, "edit-specification");
  await page.getByRole("button", { name: "Save", exact: true }).click();
  await page.getByText(`The environment ${environment} has been updated`).waitFor();
  const second = await until(
    "a second build to become current",
    () => environmentData(page),
    (data) => data && data.current_build_id !== firstBuild
  );
  const secondBuild = second.current_build_id;
  await buildCompleted(page, secondBuild);
  // The UI keeps the environment's current build from when it loaded the list.
  await page.reload();
  await page.getByText("Status: Completed").waitFor();
  await page.getByRole("row", { name: "libhello 1.0.0", exact: true }).waitFor();
  step(`second build ${secondBuild} completed and is current; libhello 1.0.0 installed`);
  await shoot(page, "second-build");

  await page.getByRole("button", { name: "Edit", exact: true }).click();
  await page.getByRole("combobox").first().click();
  const options = await page.getByRole("option").allInnerTexts();
  assert.equal(options.filter((text) => text.trim()).length, 2, `two builds: ${options}`);
  await page.getByRole("option", { name: / - Available$/ }).click();
  await page.getByRole("button", { name: "Change environment version" }).click();
  await page.getByText(`The environment ${environment} has been updated with the selected build`).waitFor();
  const switched = await environmentData(page);
  assert.equal(switched.current_build_id, firstBuild, "the first build is current again (API)");
  step(`switched the active build back to ${firstBuild} (API agrees)`);
  await shoot(page, "active-build-switched");

  await page.getByText("Delete environment").click();
  const dialog = page.getByRole("dialog", { name: "Delete Environment" });
  await dialog.getByText(`Are you sure you want to delete the environment: ${environment}?`).waitFor();
  await shoot(page, "delete-confirmation");
  await dialog.getByRole("button", { name: "Delete", exact: true }).click();
  await page.getByText(`The environment ${environment} has been deleted`).waitFor();
  await page.getByText("Select an environment to show details").waitFor();
  assert.equal(await environmentData(page), null, "the API no longer shows the environment");
  const listed = await api(page, "GET", `/api/v1/environment/?namespace=${user}`);
  assert.deepEqual(listed.body.data.map((item) => item.name), [], "no environment listed");
  await page.reload();
  await page.getByRole("button", { name: "Log out" }).waitFor();
  await page.waitForLoadState("networkidle");
  assert.equal(await page.getByRole("link", { name: environment }).count(), 0, "gone from the list");
  step("deleted the environment; it is gone from the list and the API");
  await shoot(page, "environment-deleted");
}

/** Registers an environment on the slow channel through the API; answers its build id. */
async function slowBuild(page, name) {
  const answer = await api(page, "POST", "/api/v1/specification/", {
    namespace: user,
    specification: `name: ${name}\nchannels:\n  - ${slowChannel}\ndependencies:\n  - hello\n`,
  });
  assert.equal(answer.status, 200, JSON.stringify(answer.body));
  return answer.body.data.build_id;
}

/** The admin part: a queued build's page follows its log once it runs; cancel it. */
async function admin(page) {
  // One worker: the first build holds it (its repodata answer is slow), the second waits.
  const holder = await slowBuild(page, "slow-holder");
  await until(`build ${holder} to start`, () => buildStatus(page, holder), (status) => {
    if (status !== "QUEUED" && status !== "BUILDING") throw new Error(`build ${holder} is ${status}`);
    return status === "BUILDING";
  });
  const watched = await slowBuild(page, "slow-watched");
  assert.equal(await buildStatus(page, watched), "QUEUED");

  await page.goto(`${base}/admin/build/${watched}/`);
  await page.locator("#live").waitFor();
  assert.equal(await page.locator("#status").innerText(), "QUEUED");
  const before = await page.locator("#log").innerText();
  step(`admin page of queued build ${watched} follows its log (${before.length} characters so far)`);
  await shoot(page, "admin-build-queued");

  const canceled = await api(page, "PUT", `/api/v1/build/${holder}/cancel/`);
  assert.equal(canceled.status, 200, JSON.stringify(canceled.body));
  const live = await until(
    "the live log to receive lines",
    () => page.locator("#log").innerText(),
    (text) => text.includes("starting build of conda environment")
  );
  step(`the live log received: ${JSON.stringify(live.trim().split("\n")[0])}`);
  await shoot(page, "admin-live-log");

  await page.getByRole("button", { name: "Cancel", exact: true }).click();
  await page.waitForURL(new RegExp(`/admin/build/${watched}/$`));
  await until("the status CANCELED", () => page.locator("#status").innerText(), (text) => text === "CANCELED");
  const line = `build ${watched} marked as CANCELED due to being canceled from the REST API`;
  // The worker writes that last line at its next heartbeat (within 2 seconds).
  await until(
    "the log's last line",
    async () => {
      const text = await page.locator("#log").innerText();
      if (!text.trim().endsWith(line)) await page.reload();
      return text;
    },
    (text) => text.trim().endsWith(line)
  );
  step(`build ${watched} is CANCELED and its log ends with ${JSON.stringify(line)}`);
  await shoot(page, "admin-build-canceled");
}

async function main() {
  const overall = setTimeout(() => {
    console.error("the scenario took more than 4 minutes");
    process.exit(1);
  }, 240000);
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
  });
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  context.setDefaultTimeout(timeout);
  const page = await context.newPage();
  page.on("pageerror", (error) => console.log(`page error: ${error.message}`));
  page.on("response", (response) => {
    if (response.status() >= 500) console.log(`answer ${response.status()}: ${response.url()}`);
  });
  try {
    await ui(page);
    await admin(page);
    step("scenario passed");
  } catch (error) {
    console.error(`scenario failed: ${error.stack || error}`);
    await shoot(page, "failure").catch(() => {});
    process.exitCode = 1;
  } finally {
    clearTimeout(overall);
    await browser.close();
  }
}

main();
