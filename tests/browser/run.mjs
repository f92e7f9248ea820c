#!/usr/bin/env node
// Browser tests of Sigil's web UI, in headless Debian Chromium driven by playwright-core.
//
//   node tests/browser/run.mjs --sigil target/debug/sigil [--only one-process|split] [--scenarios main,ui-fixes,passkeys]
//
// Builds nothing: it takes the sigil binary. For each deployment — one process (`sigil serve`)
// and split (`sigil serve-auth` + `sigil serve-api --jwks-url` on two origins) — it starts fresh
// servers for each scenario group (scenarios.mjs, ui-fixes.mjs), runs it, saves a screenshot of every page under
// target/screenshots/<deployment>/, and stops every process it started.
// Chromium: /usr/bin/chromium (or $CHROMIUM); `scripts/test` installs it with apt when missing.

import { existsSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';
import { CHROMIUM_ARGS, Run } from './lib/harness.mjs';
import { deploy, killAll } from './lib/servers.mjs';
import { runScenarios } from './scenarios.mjs';
import { runUiFixes } from './ui-fixes.mjs';
import { runPasskeys } from './passkeys.mjs';

/** Scenario groups, each on fresh servers of every deployment. */
const GROUPS = { main: runScenarios, 'ui-fixes': runUiFixes, passkeys: runPasskeys };
/** Groups whose servers are reached as http://localhost:<port> (WebAuthn needs a domain name). */
const ON_LOCALHOST = new Set(['passkeys']);

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..');

function parseArgs(argv) {
  const args = { sigil: null, only: null, groups: Object.keys(GROUPS) };
  for (let i = 0; i < argv.length; i += 1) {
    if (argv[i] === '--sigil') args.sigil = argv[++i];
    else if (argv[i] === '--only') args.only = argv[++i];
    else if (argv[i] === '--scenarios') args.groups = argv[++i].split(',');
    else throw new Error(`unknown argument ${argv[i]}`);
  }
  if (!args.sigil) throw new Error('usage: run.mjs --sigil <path to the sigil binary> [--only one-process|split] [--scenarios main,ui-fixes,passkeys]');
  for (const group of args.groups) if (!GROUPS[group]) throw new Error(`unknown scenario group ${group}`);
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
      const run = new Run(topology, screenshots);
      for (const group of args.groups) {
        const env = await deploy(topology, { binary, logDir, localhost: ON_LOCALHOST.has(group) });
        console.log(`\n${topology} (${group}): UI and identity at ${env.authUrl}, tasks API at ${env.apiUrl}`);
        try {
          await GROUPS[group](browser, env, run);
        } catch (error) {
          failed = true;
          console.error(`\n${topology} (${group}) FAILED: ${error.stack || error}`);
          console.error(`  server logs: ${logDir}/${topology}-*.log; screenshots: ${run.dir}`);
        } finally {
          await env.stop();
        }
      }
      console.log(`  ${topology}: ${run.steps.filter((s) => s.ok).length} steps passed in ${((Date.now() - t0) / 1000).toFixed(1)} s; ${run.shots} screenshots in ${run.dir}`);
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
