// Handlers for `portcullis demo` commands.
import { notBuilt } from './output.js';

export async function demo(..._args: unknown[]): Promise<void> {
  notBuilt('demo');
}

