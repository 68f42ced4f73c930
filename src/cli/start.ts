// Handlers for `portcullis start` commands.
import { notBuilt } from './output.js';

export async function start(..._args: unknown[]): Promise<void> {
  notBuilt('start');
}

