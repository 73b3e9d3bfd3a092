/** Time and randomness are passed into the core, never read by it directly. */
export interface Clock {
  now(): Date;
}
export const systemClock: Clock = { now: () => new Date() };

export interface IdGenerator {
  newId(): string;
}
