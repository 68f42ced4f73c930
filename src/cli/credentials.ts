// Handlers for `portcullis credentials` commands.
import { notBuilt } from './output.js';

export async function credentials(..._args: unknown[]): Promise<void> {
  notBuilt('credentials');
}

export async function token(..._args: unknown[]): Promise<void> {
  notBuilt('token');
}

export async function tokenFetch(..._args: unknown[]): Promise<void> {
  notBuilt('token fetch');
}

