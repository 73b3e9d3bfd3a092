/**
 * What the operator must keep safe, said when the service starts (the local host prints it;
 * the first start, when the master key is generated, says the most).
 */
export interface KeyCustody {
  keyProvider: 'local' | 'keyvault';
  /** The local master key was generated on this start (a new data folder). */
  masterKeyGenerated: boolean;
  /** SHA-256 of the recovery public key tenant keys are escrowed to, when configured. */
  recoveryKey?: string;
}

export function custodyNotice(c: KeyCustody, dataDirShown: string): string[] {
  if (c.keyProvider === 'keyvault') {
    return [
      'Tenant keys live in Azure Key Vault: keep soft-delete and purge protection on, and back the keys up (infra/README.md, "Keys and disaster recovery").',
    ];
  }
  const lines: string[] = [];
  if (c.masterKeyGenerated) {
    lines.push(
      `Generated a master key: ${dataDirShown}/master.key (mode 0600). KEEP SAFE: ${dataDirShown}/master.key and ${dataDirShown}/keys/ open every tenant's keys; no backup tier holds them.`,
    );
  }
  if (c.recoveryKey) {
    lines.push(
      `Tenant keys are escrowed to every backup tier under recovery key ${c.recoveryKey.slice(0, 16)}…: keep its private half offline; with one tier it restores every tenant (prove it: tenant-ledger recovery drill).`,
    );
  } else {
    lines.push(
      `No recovery key: the backups can be decrypted only with this data folder's master.key and keys/. Run \`tenant-ledger recovery keygen\` and set RECOVERY_PUBLIC_KEY (README, "Disaster recovery").`,
    );
  }
  return lines;
}
