// What every command's --help ends with: examples (copy-paste ready), and the one output flag all machine-readable
// commands share. Applied to the built program in one place so no command is left out.

import { Command, Option } from 'commander';

/** Examples by command path (`policy check`). Every command of the program has an entry (a test checks it). */
export const EXAMPLES: Record<string, string[]> = {
  start: [
    'portcullis start --policy policy.yaml',
    'portcullis start --listen 0.0.0.0:8443 --public-host bastion.internal --log-file /var/log/portcullis.jsonl',
    'portcullis start --headless | jq -c "select(.event == \\"decision\\")"',
  ],
  init: ['portcullis init', 'portcullis init --dir /etc/portcullis --state-dir /var/lib/portcullis'],
  demo: ['portcullis demo', 'portcullis demo --headless --duration 30'],
  mcp: ['portcullis mcp run --service-account reports-mcp --name aws-api -- uvx awslabs.aws-api-mcp-server@latest'],
  'mcp run': [
    'portcullis mcp run --service-account reports-mcp --name aws-api -- uvx awslabs.aws-api-mcp-server@latest',
    'portcullis mcp run --service-account ci --gateway https://gw.internal:8443 --token-file /run/secrets/idp.jwt -- node server.js',
  ],
  dash: ['portcullis dash', 'portcullis dash --state-dir /var/lib/portcullis --theme high-contrast'],
  env: [
    'eval "$(portcullis env --service-account reports-mcp)"',
    'portcullis env --service-account reports-mcp --format mcp',
    'portcullis env --service-account ci --format aws-config -o ~/.aws/config --credential-process',
  ],
  ca: ['portcullis ca export -o /etc/ssl/portcullis-ca.pem'],
  'ca export': ['portcullis ca export -o gateway-ca.pem', 'portcullis ca export > gateway-ca.pem'],
  credentials: ['portcullis credentials --service-account ci --token-file /run/secrets/id-token'],
  token: ['portcullis token --service-account reports-indexer --ttl 15m > /run/portcullis/token'],
  'token fetch': ['portcullis token fetch --issuer okta --client-id 0oa1b2 --client-secret-file secret --out token --refresh'],
  policy: ['portcullis policy check', 'portcullis policy explain --as reports-mcp --action s3:GetObject --resource arn:aws:s3:::reports/q1.csv'],
  'policy check': ['portcullis policy check policy.yaml', 'portcullis policy check --strict --output json'],
  'policy explain': [
    'portcullis policy explain --as reports-mcp --action s3:GetObject --resource arn:aws:s3:::reports/q1.csv',
    'portcullis policy explain --token /run/secrets/id-token',
  ],
  status: ['portcullis status', 'portcullis status --output json | jq .counts'],
  sessions: ['portcullis sessions --active', 'portcullis sessions --output json'],
  pending: ['portcullis pending', 'portcullis pending --output json | jq ".[0].pairs"'],
  approve: ['portcullis approve 7dx6', 'portcullis approve 7dx6 --for 30m --reason "release window"'],
  deny: ['portcullis deny 7dx6 --reason "not during the freeze"'],
  revoke: ['portcullis revoke s-ci-7f3a', 'portcullis revoke --service-account ci --reason "key leaked"'],
  grants: ['portcullis grants', 'portcullis grants revoke g-7hxk'],
  'grants revoke': ['portcullis grants revoke g-7hxk'],
  tail: ['portcullis tail', 'portcullis tail --session s-ci-7f3a --output json'],
  replay: ['portcullis replay s-ci-7f3a --speed 10'],
  export: ['portcullis export s-ci-7f3a --format har -o session.har', 'portcullis export --all --since 24h --format ocsf -o audit.jsonl'],
  verify: ['portcullis verify s-ci-7f3a', 'portcullis verify --key'],
  completion: ['portcullis completion bash > /etc/bash_completion.d/portcullis', 'portcullis completion zsh > "${fpath[1]}/_portcullis"', 'portcullis completion fish > ~/.config/fish/completions/portcullis.fish'],
};

export function commandPath(command: Command): string {
  const names: string[] = [];
  for (let c: Command | null = command; c?.parent; c = c.parent) names.unshift(c.name());
  return names.join(' ');
}

export function allCommands(root: Command): Command[] {
  return root.commands.flatMap((c) => [c, ...allCommands(c)]);
}

/**
 * `--output json|text` on every command that has `--json` (kubectl and aws spell it so); `--json` stays as its
 * alias. Commands whose `-o, --output` is a file (env, export, ca export) keep `--format`.
 */
function addOutputOption(command: Command): void {
  const has = (flag: string) => command.options.some((o) => o.long === flag);
  if (!has('--json') || has('--output')) return;
  command.addOption(new Option('--output <format>', 'output format: text (default) or json; --json is the same as --output json').choices(['text', 'json']));
  command.hook('preAction', (_self, action) => {
    const opts = action.opts();
    if (opts.output === 'text' && opts.json === true) action.error('portcullis: --json and --output text disagree; give one of them', { exitCode: 2, code: 'portcullis.conflict' });
    if (opts.output === 'json') action.setOptionValue('json', true);
  });
}

/** Adds the output flag and the examples to every command of the program. */
export function finishHelp(program: Command): void {
  for (const command of allCommands(program)) {
    addOutputOption(command);
    const examples = EXAMPLES[commandPath(command)];
    if (examples) command.addHelpText('after', `\nExamples:\n${examples.map((e) => `  $ ${e}`).join('\n')}\n`);
  }
  program.addHelpText('after', `\nExamples:\n${['portcullis init', 'portcullis start', 'portcullis dash', 'portcullis approve ID'].map((e) => `  $ ${e}`).join('\n')}\n`);
}
