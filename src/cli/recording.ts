// Handlers for `portcullis recording` commands.
import { notBuilt } from './output.js';

export async function replay(..._args: unknown[]): Promise<void> {
  notBuilt('replay');
}

export async function exportSessions(..._args: unknown[]): Promise<void> {
  notBuilt('export');
}

export async function verify(..._args: unknown[]): Promise<void> {
  notBuilt('verify');
}

