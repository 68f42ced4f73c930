// Argument parsing for every command of the public interface (DESIGN.md "Command line").
// Handlers live in one module per area and are imported lazily so `--help` stays fast.

import { Command, CommanderError, Option } from 'commander';
import { VERSION } from '../version.js';
import { finishHelp } from './help.js';
import { CliError, type ExitCode } from './output.js';

type Opts = Record<string, unknown>;

function collect(value: string, previous: string[] = []): string[] {
  return [...previous, value];
}

function stateDirOption(): Option {
  return new Option('--state-dir <dir>', 'state directory (default $PORTCULLIS_STATE_DIR or ~/.portcullis)');
}

export function buildProgram(): Command {
  const program = new Command('portcullis')
    .description(
      'A gateway for machines on AWS: verifies their IdP tokens, re-signs their calls with scoped credentials,\n' +
        'records every session, masks secrets, holds risky calls for approval and blocks forbidden ones.',
    )
    .version(VERSION, '-V, --version', 'print the version')
    .helpOption('-h, --help', 'show help')
    .showSuggestionAfterError(true)
    // Options after a subcommand belong to it (`token fetch --policy F`), not to its parent.
    .enablePositionalOptions()
    .configureHelp({ sortSubcommands: false })
    .addHelpText('after', '\nExit codes: 0 ok, 1 failure, 2 usage. Run `portcullis <command> --help` for a command\'s options.');

  program
    .command('start')
    .description('run the gateway (dashboard on a TTY, JSON lines otherwise)')
    .option('--policy <file>', 'policy file', 'policy.yaml')
    .option('--listen <host:port>', 'address to listen on', '127.0.0.1:8443')
    .addOption(stateDirOption())
    .option('--headless', 'no dashboard: print JSON event lines')
    .option('--log-file <file>', 'also append the JSON event lines to FILE (0600); what a detached gateway keeps writing')
    .option('--upstream-endpoint <url>', 'send every AWS call here instead of AWS (moto, LocalStack, MinIO)')
    .option('--public-host <name>', 'extra host name for the server certificate (repeatable)', collect, [])
    .option('--theme <name>', 'dashboard theme: dark, light, high-contrast, mono, or a theme file (or $PORTCULLIS_THEME)')
    .option('--account-concurrency <n>', 'calls one service account may have in flight unless its limits say otherwise (default 32)')
    .option('--buffer-budget <size>', 'memory for all buffered request bodies together, e.g. 256MiB (default 256MiB)')
    .option('--min-upload-rate <size>', 'streamed uploads slower than this per second (averaged over 10 s, after 10 s) are cut; 0 turns it off (default 1KiB)')
    .action(async (opts: Opts) => (await import('./start.js')).start(opts));

  program
    .command('init')
    .description('write policy.yaml, create the CA and signing keys, print client set-up')
    .option('--dir <dir>', 'where to write policy.yaml', '.')
    .addOption(stateDirOption())
    .action(async (opts: Opts) => (await import('./init.js')).init(opts));

  program
    .command('demo')
    .description('self-contained demo: gateway + local IdP + local upstream + simulated MCP traffic')
    .option('--headless', 'no dashboard: print JSON event lines')
    .option('--duration <seconds>', 'stop by itself after this many seconds')
    .action(async (opts: Opts) => (await import('./demo.js')).demo(opts));

  program
    .command('dash')
    .description('attach a dashboard to a running gateway')
    .addOption(stateDirOption())
    .option('--theme <name>', 'dashboard theme')
    .action(async (opts: Opts) => (await import('./dash.js')).dash(opts));

  program
    .command('env')
    .description('print the client set-up for a service account')
    .requiredOption('--service-account <name>', 'service account name')
    .addOption(new Option('--format <format>', 'output format').choices(['shell', 'json', 'mcp', 'aws-config']).default('shell'))
    .option('-o, --output <file>', 'write to a file (aws-config)')
    .option('--url <url>', 'gateway URL (default: read from the running gateway in the state dir)')
    .option('--policy <file>', "policy file, for the role and region (default: the running gateway's, found through the state dir; else ./policy.yaml)")
    .option('--token-file <file>', 'where the client reads its identity token')
    .option('--credential-process', 'with --format aws-config: credential_process = portcullis credentials … instead of web_identity_token_file')
    .option('--role <arn>', "which of the service account's roles (default: the first)")
    .option('--wrap', 'with --format mcp: print a whole mcpServers entry that runs the server through `portcullis mcp run` (server command after --)')
    .option('--name <server>', 'with --wrap: the entry\'s name, also the server in mcp:<server>/tool/<name> (default: the service account)')
    .argument('[command...]', 'with --wrap: the MCP server command, after --')
    .addOption(stateDirOption())
    .action(async (command: string[], opts: Opts) => (await import('./env.js')).env(opts, command));

  const mcp = program.command('mcp').description('run MCP servers through the gateway');
  mcp.enablePositionalOptions();
  mcp
    .command('run')
    .description('start an MCP server (the command after --) as a service account: gateway credentials, tool calls decided and recorded')
    .requiredOption('--service-account <name>', 'service account name')
    .option('--name <server>', 'the server in tool resources mcp:<server>/tool/<name> (default: the service account)')
    .option('--gateway <url>', 'gateway URL (default: read from the running gateway in the state dir)')
    .option('--token-file <file>', 'identity token file (default: minted for issuer: local accounts, else the state dir\'s tokens/NAME.jwt)')
    .option('--client-id <id>', 'client id for the client-credentials grant')
    .option('--client-secret-file <file>', 'file holding the client secret')
    .option('--policy <file>', "policy file, for the role and region (default: the running gateway's, else ./policy.yaml)")
    .option('--role <arn>', "which of the service account's roles (default: the first)")
    .addOption(stateDirOption())
    .argument('<command...>', 'the MCP server command and its arguments, after --')
    .passThroughOptions()
    .action(async (command: string[], opts: Opts) => (await import('./mcp.js')).mcpRun(command, opts));

  const ca = program.command('ca').description('the gateway CA that clients trust');
  ca.command('export')
    .description('write the gateway CA certificate (PEM) for clients: a copy other users can read (0644)')
    .option('-o, --output <file>', 'write to FILE (mode 0644) instead of stdout')
    .addOption(stateDirOption())
    .action(async (opts: Opts) => (await import('./ca.js')).caExport(opts));

  program
    .command('credentials')
    .description(
      'print credential_process JSON obtained from the gateway (runs on client hosts: with --token-file it needs only --url, --ca, the service account and the token, never the policy file)',
    )
    .requiredOption('--service-account <name>', 'service account name')
    .option('--token-file <file>', 'identity token file')
    .option('--role <arn>', "role to assume (default: the service account's only role, chosen by the gateway)")
    .option('--url <url>', "gateway URL (default: the running gateway's, from the state dir)")
    .option('--ca <file>', "the gateway's CA certificate (default: the state dir's, else the system's roots)")
    .option('--client-id <id>', 'client id for the client-credentials grant (needs the policy, for the IdP)')
    .option('--client-secret-file <file>', 'file holding the client secret')
    .option('--policy <file>', "policy file, only with --client-id (default: the running gateway's; else ./policy.yaml)")
    .addOption(stateDirOption())
    .action(async (opts: Opts) => (await import('./credentials.js')).credentials(opts));

  const token = program
    .command('token')
    .description('mint a gateway-signed identity token (service accounts with issuer: local)')
    .option('--service-account <name>', 'service account name')
    .option('--ttl <duration>', 'lifetime', '1h')
    .option('--policy <file>', "policy file (default: the running gateway's, found through the state dir; else ./policy.yaml)")
    .addOption(stateDirOption())
    .action(async (opts: Opts) => (await import('./credentials.js')).token(opts));
  token.enablePositionalOptions();
  token
    .command('fetch')
    .description('fetch (and keep fresh) an IdP token with the client-credentials grant')
    .requiredOption('--issuer <name>', 'issuer name from the policy')
    .requiredOption('--client-id <id>', 'client id')
    .requiredOption('--client-secret-file <file>', 'file holding the client secret')
    .requiredOption('--out <file>', 'token file to write (mode 0600, atomically)')
    .option('--refresh', 'keep running and rewrite the file before each expiry')
    .option('--policy <file>', "policy file (default: the running gateway's; else ./policy.yaml)")
    .action(async (opts: Opts) => (await import('./credentials.js')).tokenFetch(opts));

  const policy = program.command('policy').description('check a policy file or explain a decision');
  policy
    .command('check')
    .description('validate a policy file; lists every error with file:line:column')
    .argument('[file]', 'policy file', 'policy.yaml')
    .option('--strict', 'fail on warnings too (rules that can never take effect)')
    .option('--json', 'machine-readable output')
    .action(async (file: string, opts: Opts) => (await import('./policy.js')).policyCheck(file, opts));
  policy
    .command('explain')
    .description('what would happen to this call, and which rule decides each (IAM action, resource) pair')
    .option('--policy <file>', 'policy file', 'policy.yaml')
    .option('--as <name>', 'service account')
    .option('--action <svc:Op>', 'IAM action or API operation, e.g. s3:GetObject, s3:ListObjectsV2')
    .option('--resource <arn>', 'resource ARN', '*')
    .option('--region <region>', 'region')
    .option('--token <file>', 'explain which issuer and service account a token maps to')
    .option('--claims <json>', 'like --token, from a JSON claims object')
    .option('--json', 'machine-readable output')
    .action(async (opts: Opts) => (await import('./policy.js')).policyExplain(opts));

  program
    .command('status')
    .description('the running gateway: policy, counts, per-account concurrency, limit hits, buffer budget')
    .option('--json', 'machine-readable output')
    .addOption(stateDirOption())
    .action(async (opts: Opts) => (await import('./status.js')).status(opts));
  program
    .command('sessions')
    .description('list recorded sessions')
    .option('--active', 'only sessions whose credentials are still valid')
    .option('--json', 'machine-readable output')
    .addOption(stateDirOption())
    .action(async (opts: Opts) => (await import('./admin.js')).sessions(opts));
  program
    .command('pending')
    .description('list calls waiting for approval, and what each would cover: every pair, body size and hash, headers, params')
    .option('--json', 'machine-readable output')
    .addOption(stateDirOption())
    .action(async (opts: Opts) => (await import('./admin.js')).pending(opts));
  program
    .command('approve')
    .description('approve a held call')
    .argument('<id>', 'pending approval id')
    .option('--for <duration>', "also grant the same account's calls needing only these (IAM action, resource) pairs until then (see `grants`)")
    .option('--reason <text>', 'why')
    .addOption(stateDirOption())
    .action(async (id: string, opts: Opts) => (await import('./admin.js')).approve(id, opts));
  program
    .command('deny')
    .description('deny a held call')
    .argument('<id>', 'pending approval id')
    .option('--reason <text>', 'why (the client sees it)')
    .addOption(stateDirOption())
    .action(async (id: string, opts: Opts) => (await import('./admin.js')).deny(id, opts));
  program
    .command('revoke')
    .description('revoke a session (or every session of a service account) at once')
    .argument('[session]', 'session id')
    .option('--service-account <name>', 'revoke all of this account\'s sessions')
    .option('--reason <text>', 'why (recorded with the revocation)')
    .addOption(stateDirOption())
    .action(async (session: string | undefined, opts: Opts) => (await import('./admin.js')).revoke(session, opts));
  const grants = program
    .command('grants')
    .description('list live duration grants (approve --for): who approved, account, the exact pairs, until, uses')
    .option('--json', 'machine-readable output')
    .addOption(stateDirOption())
    .addHelpText('after', '\nA grant lets the same account make calls needing only the approved (IAM action, resource) pairs until it ends.\nEnd one early with `portcullis grants revoke ID`.')
    .action(async (opts: Opts) => (await import('./admin.js')).grants(opts));
  grants.enablePositionalOptions();
  grants
    .command('revoke')
    .description('end a live grant now (calls it covered are held for approval again)')
    .argument('<id>', 'grant id, e.g. g-7hxk')
    .addOption(stateDirOption())
    .action(async (id: string, _opts: Opts, command: Command) => (await import('./admin.js')).revokeGrant(id, command.optsWithGlobals()));
  program
    .command('tail')
    .description('stream the masked event log from a running gateway')
    .option('--session <id>', 'only this session')
    .option('--json', 'JSON lines')
    .addOption(stateDirOption())
    .action(async (opts: Opts) => (await import('./admin.js')).tail(opts));

  program
    .command('replay')
    .description('step through a recorded session')
    .argument('<session>', 'session id or file')
    .option('--speed <factor>', 'playback speed', '1')
    .addOption(stateDirOption())
    .action(async (session: string, opts: Opts) => (await import('./recording.js')).replay(session, opts));
  program
    .command('export')
    .description('export recordings as JSONL, HAR 1.2 or OCSF API Activity')
    .argument('[session]', 'session id or file')
    .option('--all', 'every session')
    .option('--since <time>', 'with --all: sessions started at or after (ISO time or duration like 24h)')
    .addOption(new Option('--format <format>', 'output format').choices(['jsonl', 'har', 'ocsf']).default('jsonl'))
    .option('-o, --output <file>', 'write to a file instead of stdout')
    .addOption(stateDirOption())
    .action(async (session: string | undefined, opts: Opts) => (await import('./recording.js')).exportSessions(session, opts));
  program
    .command('verify')
    .description('prove a session recording (or an exported JSONL file) untouched and complete')
    .argument('[target]', 'session id or file')
    .option('--allow-open', 'accept a live session (exit 0); lines after its last signed digest are still reported unproven')
    .option('--witness <dir|url>', 'also check every line against the checkpoints the off-box witness holds')
    .option('--key', 'print the public key that checks digests')
    .option('--json', 'machine-readable output')
    .addOption(stateDirOption())
    .addHelpText(
      'after',
      `
Exit codes:
  0  intact and closed: every line is covered by the final signed digest (or open, with --allow-open)
  1  could not check (no such file or session, no public key, witness unreachable)
  2  usage error
  3  intact but open: no final digest; lines after the last signed checkpoint are unproven
  4  truncated: the file ends before what is known to exist (the index or the witness says the session
     went further, its end line has no final digest, or it expired without one)
  5  tampered: a line, the order of lines, a signature or the witness's checkpoints do not match`,
    )
    .action(async (target: string | undefined, opts: Opts) => (await import('./recording.js')).verify(target, opts));

  program
    .command('completion')
    .description('print shell completion: bash, zsh or fish')
    .argument('<shell>', 'bash, zsh or fish')
    .action(async (shell: string) => {
      const { completionScript } = await import('./completion.js');
      process.stdout.write(completionScript(program, shell));
    });

  finishHelp(program);
  return program;
}

function applyExitOverride(command: Command): void {
  command.exitOverride();
  command.configureOutput({
    writeErr: (text) => process.stderr.write(text),
    outputError: (text, write) => write(text.replace(/^error: /, 'portcullis: ')),
  });
  for (const sub of command.commands) applyExitOverride(sub);
}

export async function main(argv: string[]): Promise<ExitCode> {
  const program = buildProgram();
  applyExitOverride(program);
  try {
    await program.parseAsync(argv, { from: 'user' });
    return 0;
  } catch (error) {
    if (error instanceof CommanderError) {
      if (error.code === 'commander.helpDisplayed' || error.code === 'commander.version' || error.code === 'commander.help') return 0;
      if (error.code === 'commander.executeSubCommandAsync') return 1;
      return 2;
    }
    if (error instanceof CliError) {
      process.stderr.write(`portcullis: ${error.message}\n`);
      return error.exitCode;
    }
    const message = error instanceof Error ? error.message : String(error);
    process.stderr.write(`portcullis: ${message}\n`);
    if (process.env.PORTCULLIS_DEBUG) process.stderr.write(`${(error as Error)?.stack ?? ''}\n`);
    return 1;
  }
}
