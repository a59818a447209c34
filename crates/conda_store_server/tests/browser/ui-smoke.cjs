// A smoke run of the embedded conda-store UI in a real browser: opens {base}/ui/, logs in
// through the UI's "Log in" button and the login form, registers an environment through
// the API with the login cookie, opens its page, and prints every failed request, every
// answer of status 400 or more and every console error; takes screenshots on the way.
//
// Needs chromium (Debian: `apt-get install -y chromium`) and playwright-core from npm,
// installed outside the repository, and a running server, e.g.
//   CONDA_STORE_CONDA_INDEXED_CHANNELS='[]' cargo run --bin conda-store-server -- \
//     standalone --port 18080 --data-directory "$(mktemp -d)"
//   (cd /tmp/pw && npm install playwright-core)
//   NODE_PATH=/tmp/pw/node_modules node crates/conda_store_server/tests/browser/ui-smoke.cjs
// Environment: BASE (default http://127.0.0.1:18080, with the URL prefix if any),
// CHROMIUM (default /usr/bin/chromium), SCREENSHOTS (folder, default the working one).
// Exits 1 when the UI did not render or the login did not take.

const { chromium } = require("playwright-core");
const path = require("path");

const base = (process.env.BASE || "http://127.0.0.1:18080").replace(/\/$/, "");
const screenshots = process.env.SCREENSHOTS || ".";
const user = "me";

/** Records what went wrong while the page talks to the server. */
function watch(page, problems) {
  page.on("console", (message) => {
    if (message.type() === "error") problems.push(`console: ${message.text()}`);
  });
  page.on("pageerror", (error) => problems.push(`page error: ${error.message}`));
  page.on("requestfailed", (request) =>
    problems.push(`failed: ${request.method()} ${request.url()} ${request.failure()?.errorText}`)
  );
  page.on("response", (response) => {
    if (response.status() >= 400) {
      problems.push(`${response.status()}: ${response.request().method()} ${response.url()}`);
    }
  });
  page.on("request", (request) => {
    if (request.resourceType() === "fetch" || request.resourceType() === "xhr") {
      console.log(`request: ${request.method()} ${request.url()}`);
    }
  });
}

async function main() {
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
      "--no-first-run",
    ],
  });
  const problems = [];
  const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
  watch(page, problems);
  try {
    await page.goto(`${base}/ui/`);
    await page.getByText("Select an environment to show details").waitFor({ timeout: 20000 });
    console.log("rendered: the app's start page");

    await page.getByRole("button", { name: "Log in" }).click();
    await page.waitForURL(/\/login\//);
    await page.fill("input[name=username]", user);
    await page.fill("input[name=password]", "password");
    await page.click("button[type=submit]");
    await page.waitForURL(/\/ui\//);
    await page.getByRole("button", { name: "Log out" }).waitFor({ timeout: 20000 });
    console.log(`logged in as ${user}, back at ${page.url()}`);
    await page.waitForLoadState("networkidle");
    await page.screenshot({ path: path.join(screenshots, "ui-home.png") });

    const answer = await page.evaluate(async (api) => {
      const response = await fetch(`${api}/api/v1/specification/`, {
        method: "POST",
        credentials: "include",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({
          namespace: "me",
          specification:
            "name: hello\ndescription: A first environment\nchannels: [conda-forge]\ndependencies: [python]\n",
        }),
      });
      return { status: response.status, body: await response.json() };
    }, base);
    console.log(`registered: ${JSON.stringify(answer)}`);

    await page.goto(`${base}/ui/${user}/hello`);
    await page.getByText("Environment Metadata").waitFor({ timeout: 20000 });
    await page.waitForLoadState("networkidle");
    await page.waitForTimeout(2000);
    await page.screenshot({ path: path.join(screenshots, "ui-environment.png") });
    console.log(`rendered: ${page.url()}`);

    await page.goto(`${base}/ui/${user}/new-environment`);
    await page.waitForLoadState("networkidle");
    await page.screenshot({ path: path.join(screenshots, "ui-create.png") });
    console.log(`rendered: ${page.url()}`);
  } catch (error) {
    problems.push(`smoke run stopped: ${error.message}`);
    await page.screenshot({ path: path.join(screenshots, "ui-error.png") });
    process.exitCode = 1;
  } finally {
    await browser.close();
  }
  console.log(problems.length ? `problems:\n  ${problems.join("\n  ")}` : "problems: none");
}

main();
