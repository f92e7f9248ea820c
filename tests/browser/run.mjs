#!/usr/bin/env node
// Browser tests of Sigil's web UI, in headless Debian Chromium driven by playwright-core.
//
//   node tests/browser/run.mjs --sigil target/debug/sigil [--only one-process|split]
//
// Builds nothing: it takes the sigil binary. For each deployment — one process (`sigil serve`)
// and split (`sigil serve-auth` + `sigil serve-api --jwks-url` on two origins) — it starts fresh
// servers, runs the scenarios of scenarios.mjs, saves a screenshot of every page under
// target/screenshots/<deployment>/, and stops every process it started.
// Chromium: /usr/bin/chromium (or $CHROMIUM); `scripts/test` installs it with apt when missing.

import { existsSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';
import { CHROMIUM_ARGS, Run } from './lib/harness.mjs';
import { deploy, killAll } from './lib/servers.mjs';
import { runScenarios } from './scenarios.mjs';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..');

function parseArgs(argv) {
  const args = { sigil: null, only: null };
  for (let i = 0; i < argv.length; i += 1) {
    if (argv[i] === '--sigil') args.sigil = argv[++i];
    else if (argv[i] === '--only') args.only = argv[++i];
    else throw new Error(`unknown argument ${argv[i]}`);
  }
  if (!args.sigil) throw new Error('usage: run.mjs --sigil <path to the sigil binary> [--only one-process|split]');
  return args;
}

async function main() {
  const args = parseArgs(process.argv.slice(2));
  const binary = resolve(args.sigil);
  if (!existsSync(binary)) throw new Error(`no sigil binary at ${binary}`);
  const executablePath = process.env.CHROMIUM || '/usr/bin/chromium';
  if (!existsSync(executablePath)) throw new Error(`no Chromium at ${executablePath} (apt-get install -y chromium)`);
  const screenshots = resolve(root, 'target/screenshots');
  const logDir = resolve(root, 'target/browser-logs');
  const topologies = args.only ? [args.only] : ['one-process', 'split'];

  const started = Date.now();
  const browser = await chromium.launch({ executablePath, args: CHROMIUM_ARGS });
  console.log(`Chromium ${browser.version()}`);
  let failed = false;
  try {
    for (const topology of topologies) {
      const t0 = Date.now();
      const env = await deploy(topology, { binary, logDir });
      console.log(`\n${topology}: UI and identity at ${env.authUrl}, tasks API at ${env.apiUrl}`);
      const run = new Run(topology, screenshots);
      try {
        await runScenarios(browser, env, run);
        console.log(`  ${topology}: ${run.steps.length} steps passed in ${((Date.now() - t0) / 1000).toFixed(1)} s; ${run.shots} screenshots in ${run.dir}`);
      } catch (error) {
        failed = true;
        console.error(`\n${topology} FAILED: ${error.stack || error}`);
        console.error(`  server logs: ${logDir}/${topology}-*.log; screenshots: ${run.dir}`);
      } finally {
        await env.stop();
      }
    }
  } finally {
    await browser.close();
    killAll();
  }
  console.log(`\nBrowser tests ${failed ? 'FAILED' : 'passed'} in ${((Date.now() - started) / 1000).toFixed(1)} s.`);
  process.exit(failed ? 1 : 0);
}

main().catch((error) => {
  console.error(error.stack || String(error));
  killAll();
  process.exit(1);
});
