/** Backups, restores and drills of the tenants' logs and files: see service.ts for the map of the modules. */
export type { BackupCaller, TimerCaller } from './caller';
export { BACKUP_FORMAT, type ChainInfo, type Manifest } from './chain-format';
export type { DrillRecord } from './drill';
export type { VerifyResult } from './reader';
export type { RestoreResult } from './restore';
export { BackupService, type TenantTierResult } from './service';
export type { BackupRunResult } from './writer';
