// Time as a dependency: the gateway, approvals and the recorder take a clock and timers so tests can control them.

export type Clock = () => Date;

export interface TimerHandle {
  unref?(): unknown;
}

export interface Timers {
  setTimeout(callback: () => void, delayMs: number): TimerHandle;
  clearTimeout(handle: TimerHandle | undefined): void;
}

export const systemClock: Clock = () => new Date();

export const systemTimers: Timers = {
  setTimeout: (callback, delayMs) => setTimeout(callback, delayMs),
  clearTimeout: (handle) => clearTimeout(handle as NodeJS.Timeout | undefined),
};
