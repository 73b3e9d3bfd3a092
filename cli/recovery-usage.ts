/** Help text of the recovery commands (kept apart so `--help` does not load the service). */
export const RECOVERY_USAGE = `Recovery commands (run on the operator's machine; they do not call the service):
  recovery keygen [--out <dir>] [--passphrase-stdin]
      make the operator recovery key pair: recovery-public.pem (give it to the service:
      RECOVERY_PUBLIC_KEY, or copy it into the data folder) and recovery-private.pem (keep it
      offline; it is the only way to restore from the backup tiers alone)
  recovery drill <tenant> --tier <tier> --recovery-key <private.pem> [--passphrase-stdin] [--data-dir <empty dir>]
      disaster-recovery drill: a fresh instance on an empty data folder, given only the tiers
      (BACKUP_* settings from the environment) and the recovery key, restores <tenant> from
      <tier> and compares its state hash with the source's last drill. Exit 0 when equal.
`;
