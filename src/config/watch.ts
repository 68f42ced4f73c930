// Hot reload of the policy file. Watches the file's directory, not the file: editors replace the file
// (write-temp-then-rename, vim's rename-to-backup, delete then re-create), which ends an inode watch.
// A valid change replaces the policy for new requests; an invalid one (or a deleted file) keeps the last
// good policy in force and emits policy.rejected with every error.

import { watch, type FSWatcher } from 'node:fs';
import { basename, dirname, resolve } from 'node:path';
import type { EventBus, PolicyErrorItem } from '../events.js';
import { formatPolicyError, loadPolicyFile, type LoadedPolicy, type PolicyLoadResult } from './load.js';

export interface PolicyWatcherOptions {
  file: string;
  bus: EventBus;
  /** Quiet time after the last file-system event before reloading; editors save in several steps. Default 100. */
  debounceMs?: number;
  now?: () => Date;
}

export class PolicyLoadError extends Error {
  readonly errors: PolicyErrorItem[];
  constructor(file: string, errors: PolicyErrorItem[]) {
    super(`policy ${file} has ${errors.length} error${errors.length === 1 ? '' : 's'}:\n${errors.map(formatPolicyError).join('\n')}`);
    this.name = 'PolicyLoadError';
    this.errors = errors;
  }
}

export class PolicyWatcher {
  readonly #file: string;
  readonly #path: string;
  readonly #bus: EventBus;
  readonly #debounceMs: number;
  readonly #now: () => Date;
  #current: LoadedPolicy | undefined;
  #watcher: FSWatcher | undefined;
  #timer: NodeJS.Timeout | undefined;
  #queue: Promise<unknown> = Promise.resolve();
  /** Whether the file has been seen in a bad state since the current policy loaded. */
  #rejectedSinceLoad = false;
  #closed = false;
  /**
   * Called as a new policy is accepted, before policy.loaded is emitted: what loading it ends (the gateway counts the
   * live sessions whose service account or role the new policy no longer has).
   */
  onAccept: ((policy: LoadedPolicy) => { endedSessions: number }) | undefined;

  constructor(options: PolicyWatcherOptions) {
    this.#file = options.file;
    this.#path = resolve(options.file);
    this.#bus = options.bus;
    this.#debounceMs = options.debounceMs ?? 100;
    this.#now = options.now ?? (() => new Date());
    if (!Number.isFinite(this.#debounceMs) || this.#debounceMs < 0) throw new RangeError(`debounceMs must be a non-negative number, got ${options.debounceMs}`);
  }

  /** Loads the policy (throws PolicyLoadError if it has errors) and starts watching. */
  async start(): Promise<LoadedPolicy> {
    if (this.#watcher) throw new Error('PolicyWatcher already started');
    const result = await loadPolicyFile(this.#file);
    if (!result.ok) throw new PolicyLoadError(this.#file, result.errors);
    this.#accept(result.policy);

    const dir = dirname(this.#path);
    const name = basename(this.#path);
    // One inotify watch on the directory, filtered by name: only the policy file matters, plus Kubernetes' `..data`
    // symlink swap for mounted ConfigMaps. Nothing is rescanned when other files next to the policy change (logs,
    // a state dir), so a busy neighbour costs nothing.
    const watcher = watch(dir, { persistent: false }, (_event, changed) => {
      if (changed === null || changed === name || String(changed).startsWith('..')) this.#schedule();
    });
    this.#watcher = watcher;
    watcher.on('error', (error: unknown) => {
      this.#bus.emit({ type: 'error', at: this.#now().toISOString(), message: `watching ${this.#file}: ${(error as Error).message}`, code: 'POLICY_WATCH' });
    });
    return result.policy;
  }

  /** The policy in force. */
  current(): LoadedPolicy {
    if (!this.#current) throw new Error('PolicyWatcher not started');
    return this.#current;
  }

  /** Reloads now (e.g. on SIGHUP or an admin command); emits policy.loaded or policy.rejected. */
  reload(): Promise<PolicyLoadResult> {
    return this.#enqueue(() => this.#reload({ manual: true }));
  }

  async close(): Promise<void> {
    this.#closed = true;
    if (this.#timer) clearTimeout(this.#timer);
    this.#watcher?.close();
    await this.#queue.catch(() => undefined);
  }

  #schedule(): void {
    if (this.#closed) return;
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      void this.#enqueue(() => this.#reload({ manual: false }));
    }, this.#debounceMs);
  }

  #enqueue(task: () => Promise<PolicyLoadResult>): Promise<PolicyLoadResult> {
    const run = this.#queue.then(task, task);
    this.#queue = run.catch(() => undefined);
    return run;
  }

  async #reload({ manual }: { manual: boolean }): Promise<PolicyLoadResult> {
    let result = await loadPolicyFile(this.#file);
    if (!result.ok && !manual && isMissingFile(result.errors)) {
      // Between an editor's unlink and its re-create; look again before calling the file deleted.
      await new Promise((r) => setTimeout(r, Math.max(this.#debounceMs, 50)));
      result = await loadPolicyFile(this.#file);
    }
    if (this.#closed && !manual) return result;
    if (result.ok) {
      const unchanged = result.policy.sha256 === this.#current?.sha256 && !this.#rejectedSinceLoad;
      if (manual || !unchanged) this.#accept(result.policy);
    } else {
      this.#rejectedSinceLoad = true;
      this.#bus.emit({
        type: 'policy.rejected',
        at: this.#now().toISOString(),
        file: this.#file,
        errors: result.errors,
        ...(this.#current ? { keptSha256: this.#current.sha256 } : {}),
      });
    }
    return result;
  }

  #accept(policy: LoadedPolicy): void {
    this.#current = policy;
    this.#rejectedSinceLoad = false;
    const consequences = this.onAccept?.(policy);
    this.#bus.emit({
      type: 'policy.loaded',
      at: this.#now().toISOString(),
      file: this.#file,
      sha256: policy.sha256,
      rules: policy.config.rules.length,
      serviceAccounts: policy.config.serviceAccounts.length,
      ...(consequences && consequences.endedSessions > 0 ? { endedSessions: consequences.endedSessions } : {}),
    });
  }
}

function isMissingFile(errors: PolicyErrorItem[]): boolean {
  return errors.length === 1 && errors[0]!.line === 0 && errors[0]!.message.includes('ENOENT');
}
