// Handlers for `portcullis env` commands.
import { notBuilt } from './output.js';

export async function env(..._args: unknown[]): Promise<void> {
  notBuilt('env');
}

