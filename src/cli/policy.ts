// Handlers for `portcullis policy` commands.
import { notBuilt } from './output.js';

export async function policyCheck(..._args: unknown[]): Promise<void> {
  notBuilt('policy check');
}

export async function policyExplain(..._args: unknown[]): Promise<void> {
  notBuilt('policy explain');
}

