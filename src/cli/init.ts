// Handlers for `portcullis init` commands.
import { notBuilt } from './output.js';

export async function init(..._args: unknown[]): Promise<void> {
  notBuilt('init');
}

