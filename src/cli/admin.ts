// Handlers for `portcullis admin` commands.
import { notBuilt } from './output.js';

export async function sessions(..._args: unknown[]): Promise<void> {
  notBuilt('sessions');
}

export async function pending(..._args: unknown[]): Promise<void> {
  notBuilt('pending');
}

export async function approve(..._args: unknown[]): Promise<void> {
  notBuilt('approve');
}

export async function deny(..._args: unknown[]): Promise<void> {
  notBuilt('deny');
}

export async function revoke(..._args: unknown[]): Promise<void> {
  notBuilt('revoke');
}

export async function tail(..._args: unknown[]): Promise<void> {
  notBuilt('tail');
}

