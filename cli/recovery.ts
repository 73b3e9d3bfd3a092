/**
 * `tenant-ledger recovery …`: key custody and the disaster-recovery drill. Unlike the other
 * commands these do not call a running service: keygen makes the operator recovery key pair
 * on this machine, and the drill starts a fresh service instance of its own on an empty data
 * folder, with only the backup tiers (their settings come from the environment, as for the
 * service) and the recovery private key.
 */
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { createFileDurably } from '../shared/adapters/durable-files';
import { LocalKeyProvider, loadOrCreateMasterKey } from '../shared/adapters/embedded/local-key-provider';
import { runDisasterRecoveryDrill } from '../shared/app/recovery/disaster-recovery';
import { generateRecoveryKeyPair, loadRecoveryPrivateKey, RECOVERY_PUBLIC_KEY_FILE } from '../shared/app/recovery/recovery-key';
import { loadConfig } from '../shared/config';
import { createServices } from '../shared/config/services';
import { UsageError, type Io } from './commands';
import { RECOVERY_USAGE } from './recovery-usage';

const OPTIONS = {
  out: { type: 'string' },
  tier: { type: 'string' },
  'recovery-key': { type: 'string' },
  'passphrase-stdin': { type: 'boolean' },
  'data-dir': { type: 'string' },
  json: { type: 'boolean' },
} as const;

export async function runRecovery(argv: string[], io: Io): Promise<number> {
  let values: { [K in keyof typeof OPTIONS]?: (typeof OPTIONS)[K]['type'] extends 'string' ? string : boolean };
  let positionals: string[];
  try {
    ({ values, positionals } = parseArgs({ args: argv, options: OPTIONS, allowPositionals: true, strict: true }) as {
      values: typeof values;
      positionals: string[];
    });
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
  const [, sub, tenant, ...rest] = positionals;
  if (rest.length) throw new UsageError(`Unexpected arguments: ${rest.join(' ')}`);
  const passphrase = values['passphrase-stdin'] ? await io.readPassword('Recovery key passphrase: ') : undefined;
  if (values['passphrase-stdin'] && !passphrase) throw new UsageError('--passphrase-stdin: the passphrase is empty.');

  if (sub === 'keygen') {
    const dir = resolve(values.out ?? '.');
    await mkdir(dir, { recursive: true, mode: 0o700 });
    const pair = await generateRecoveryKeyPair(passphrase);
    const priv = join(dir, 'recovery-private.pem');
    const pub = join(dir, RECOVERY_PUBLIC_KEY_FILE);
    try {
      await createFileDurably(priv, pair.privateKeyPem, { mode: 0o600 });
      await createFileDurably(pub, pair.publicKeyPem, { mode: 0o644 });
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'EEXIST')
        throw new UsageError(
          `A recovery key already exists in ${dir}; move it away first (never overwrite the only copy of a recovery key).`,
        );
      throw e;
    }
    if (values.json) io.out(`${JSON.stringify({ fingerprint: pair.fingerprint, publicKey: pub, privateKey: priv }, null, 2)}\n`);
    io.err(
      [
        `Recovery key ${pair.fingerprint.slice(0, 16)}… (RSA ${4096}, SHA-256 ${pair.fingerprint})`,
        `  ${pub}: give it to the service — set RECOVERY_PUBLIC_KEY to this file (or its PEM text), or copy it`,
        `    into the data folder as ${RECOVERY_PUBLIC_KEY_FILE}. Every backup then escrows the tenant keys to each tier.`,
        `  ${priv}${passphrase ? ' (encrypted with your passphrase)' : ''}: KEEP IT OFFLINE, in two places (e.g. a safe and`,
        `    a password manager), and delete it from this machine. With a backup tier it restores every tenant;`,
        `    without it (and without the data folder's master.key and keys/) the backups cannot be decrypted.`,
        `  Prove it works: tenant-ledger recovery drill <tenant> --tier <tier> --recovery-key <this file>`,
        '',
      ].join('\n'),
    );
    return 0;
  }

  if (sub === 'drill') {
    if (!tenant) throw new UsageError('recovery drill <tenant> --tier <tier> --recovery-key <private.pem>');
    if (!values.tier) throw new UsageError('recovery drill: --tier <tier> is required.');
    if (!values['recovery-key']) throw new UsageError('recovery drill: --recovery-key <private.pem> is required.');
    const privateKey = await loadRecoveryPrivateKey(resolve(values['recovery-key']), passphrase);
    const own = !values['data-dir'];
    const dataDir = own ? mkdtempSync(join(tmpdir(), 'tenant-ledger-dr-')) : resolve(values['data-dir']!);
    try {
      await mkdir(dataDir, { recursive: true, mode: 0o700 });
      if (readdirSync(dataDir).length)
        throw new UsageError(`--data-dir ${dataDir} is not empty: the drill proves recovery from nothing, so it needs an empty folder.`);
      // A fresh instance: the tier settings of the environment, everything else new and local.
      const config = loadConfig({
        ...io.env,
        DATA_DIR: dataDir,
        STORE: 'embedded',
        KEY_PROVIDER: 'local',
        LOCAL_MASTER_KEY: '',
        OPERATOR_AUTH: 'key',
        OPERATOR_KEY: '',
        LOCAL_BLOB: 'off',
      });
      const services = await createServices(config);
      try {
        const target = services.backups.target(values.tier);
        const keys = new LocalKeyProvider({ dir: join(dataDir, 'keys'), masterKey: await loadOrCreateMasterKey(dataDir) });
        const report = await runDisasterRecoveryDrill(
          { backups: services.backups, keys, target, otherTargets: services.backups.targets },
          tenant,
          privateKey,
          { correlationId: `recovery-drill-${Date.now()}` },
          (m) => io.err(`${m} …\n`),
        );
        if (values.json) io.out(`${JSON.stringify({ ...report, dataDir: own ? null : dataDir }, null, 2)}\n`);
        io.err(
          `${report.ok ? 'OK' : 'FAILED'}: ${tenant} restored from ${report.tier} on an empty data folder as of ${report.asOf}: ${report.commits} commits, ${report.files} files, ${report.keysImported} key version(s) from escrow; state hash ${report.restoredHash.slice(0, 16)}… ${report.ok ? '=' : '≠'} source ${report.sourceHash.slice(0, 16)}…\n`,
        );
        return report.ok ? 0 : 1;
      } finally {
        await services.close();
      }
    } finally {
      if (own) rmSync(dataDir, { recursive: true, force: true });
    }
  }
  throw new UsageError(`Unknown recovery command: ${sub ?? '(none)'}. ${RECOVERY_USAGE}`);
}
