// Handlers for `portcullis dash` commands.
import { notBuilt } from './output.js';

export async function dash(..._args: unknown[]): Promise<void> {
  notBuilt('dash');
}

