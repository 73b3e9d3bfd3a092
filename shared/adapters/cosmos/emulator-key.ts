/**
 * The documented, public account key of the Cosmos DB emulator (published by Microsoft; not a
 * secret). The local change-feed stand-in (host/cosmos-standin.ts) accepts any key; the
 * service uses this one with STORE=cosmos-standin so the SDK signs requests as usual.
 */
export const EMULATOR_KEY = 'C2y6yDjf5/R+ob0N8A7Cgv30VRDJIWEHLM+4QDU5DE2nQ9nDuVTqobD4b8mGGyPMbIZnqyMsEcaGQy67XIw/Jw==';
