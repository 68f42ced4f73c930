// `portcullis dash`: attach a dashboard to the gateway running with this state dir, over its admin
// socket. The same dashboard code as `portcullis start` on a TTY.

import { AdminClient } from '../admin/client.js';
import { AdminUnavailableError } from '../admin/errors.js';
import { resolveStateDir } from '../state.js';
import { CliError } from './output.js';

export async function dash(opts: Record<string, unknown> = {}): Promise<void> {
  if (!process.stdout.isTTY || !process.stdin.isTTY) {
    throw new CliError('dash needs a terminal; use `portcullis tail` for a plain event stream', 2);
  }
  const { runDashboard } = await import('../tui/dashboard.js');
  const { chooseThemeName, loadTheme, ThemeError } = await import('../tui/theme.js');
  const theme = opts.theme as string | undefined;
  try {
    loadTheme(chooseThemeName(theme, process.env));
  } catch (error) {
    if (error instanceof ThemeError) throw new CliError(`${theme ? '--theme' : 'theme'}: ${error.message}`, 2);
    throw error;
  }
  const stateDir = resolveStateDir(opts.stateDir as string | undefined);
  const client = AdminClient.connect(stateDir);
  // Fail fast on a wrong --state-dir; a gateway that goes away later shows "disconnected — retrying".
  try {
    await client.status();
  } catch (error) {
    if (error instanceof AdminUnavailableError) throw new CliError(error.message);
    throw error;
  }
  await runDashboard(client, { theme, stateDir, title: `portcullis dash ${stateDir}` });
}
