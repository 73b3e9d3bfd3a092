import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { randomBytes } from 'node:crypto';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { BlobServiceClient } from '@azure/storage-blob';
import { isAppError } from '../../shared/domain/errors';
import { S3BackupTarget } from '../../shared/adapters/backup/s3-backup-target';
import { BlobBackupTarget } from '../../shared/adapters/backup/blob-backup-target';
import { backupTargetContract } from '../contracts/backup-target.contract';
import { startS3, s3ClientFor } from '../support/s3';
import type { S3TestServer } from '../support/s3';
import { startAzurite } from '../support/azurite';
import { rejectionOf } from '../support/rejection';

const LIST_PAGE = 7;

function s3Target(s3: S3TestServer, extra: { keyPrefix?: string; headBeforePut?: boolean } = {}): S3BackupTarget {
  return S3BackupTarget.create({
    name: 'eu-cloud',
    bucket: s3.bucket,
    endpoint: s3.endpoint,
    region: s3.region,
    forcePathStyle: true,
    credentials: { accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey },
    listPageSize: LIST_PAGE,
    ...extra,
  });
}

/** The contract's fixture: a fresh s3rver and a target on it. */
async function s3Fixture(extra: { keyPrefix?: string } = {}) {
  const s3 = await startS3();
  const target = s3Target(s3, extra);
  return {
    target,
    listPageSize: LIST_PAGE,
    quirks: ['misorders-key-and-its-children' as const, 'stores-truncated-body' as const],
    cleanup: async () => {
      target.client.destroy();
      await s3.close();
    },
  };
}

backupTargetContract('S3BackupTarget (real @aws-sdk/client-s3 against s3rver)', () => s3Fixture());

backupTargetContract('S3BackupTarget with a key prefix', () => s3Fixture({ keyPrefix: 'tenant-ledger/backups/' }));

backupTargetContract('BlobBackupTarget (real @azure/storage-blob against Azurite)', async () => {
  const azurite = await startAzurite();
  const target = BlobBackupTarget.fromConnectionString(azurite.connectionString, 'backups', { name: 'azure', listPageSize: LIST_PAGE });
  await target.createContainerIfNotExists();
  return { target, listPageSize: LIST_PAGE, cleanup: () => azurite.close() };
});

backupTargetContract('BlobBackupTarget with a key prefix', async () => {
  const azurite = await startAzurite();
  const target = BlobBackupTarget.fromConnectionString(azurite.connectionString, 'backups', {
    keyPrefix: 'tenant-ledger/',
    listPageSize: LIST_PAGE,
  });
  await target.createContainerIfNotExists();
  return { target, listPageSize: LIST_PAGE, cleanup: () => azurite.close() };
});

describe('S3BackupTarget (S3 only)', () => {
  let s3: S3TestServer;
  beforeAll(async () => {
    s3 = await startS3();
  });
  afterAll(async () => {
    await s3?.close();
  });

  it('s3rver lists a key after the keys under it as a folder (why the contract marks that quirk)', async () => {
    const target = s3Target(s3, { keyPrefix: `quirk-${randomBytes(4).toString('hex')}/` });
    try {
      for (const k of ['m', 'm/1', 'm0']) await target.put(k, randomBytes(1));
      const keys: string[] = [];
      for await (const o of target.list('')) keys.push(o.key);
      // S3 and Azure: ['m', 'm/1', 'm0']. If this starts passing in order, drop the quirk.
      expect(keys).toEqual(['m/1', 'm', 'm0']);
    } finally {
      target.client.destroy();
    }
  });

  it('s3rver ignores If-None-Match: * on PUT (why the adapter checks with HEAD first)', async () => {
    const client = s3ClientFor(s3);
    try {
      const Key = `probe-${randomBytes(4).toString('hex')}`;
      await client.send(new PutObjectCommand({ Bucket: s3.bucket, Key, Body: Buffer.from('one'), IfNoneMatch: '*' }));
      // A server with conditional writes answers 412 here; s3rver overwrites.
      await client.send(new PutObjectCommand({ Bucket: s3.bucket, Key, Body: Buffer.from('two'), IfNoneMatch: '*' }));
      const target = s3Target(s3);
      expect(Buffer.from((await target.get(Key))!).toString()).toBe('two');
      target.client.destroy();
    } finally {
      client.destroy();
    }
  });

  it('maps a 412 from a server with conditional writes to conflict (headBeforePut: false)', async () => {
    const target = s3Target(s3, { headBeforePut: false });
    const sent: unknown[] = [];
    target.client.middlewareStack.add(
      (next, context) => async (args) => {
        if (context.commandName === 'PutObjectCommand') {
          sent.push((args.request as { headers: Record<string, string> }).headers['if-none-match']);
          throw Object.assign(new Error('At least one of the pre-conditions you specified did not hold'), {
            name: 'PreconditionFailed',
            $metadata: { httpStatusCode: 412 },
          });
        }
        return next(args);
      },
      { step: 'finalizeRequest', name: 'simulate412' },
    );
    const e = await rejectionOf(target.put('k', randomBytes(5)));
    expect(isAppError(e) && e.code).toBe('conflict');
    expect(sent).toEqual(['*']);
    target.client.destroy();
  });

  it('reports a missing bucket as an error, not as an absent object, without leaking the request', async () => {
    const target = S3BackupTarget.create({
      name: 'eu-cloud',
      bucket: 'no-such-bucket',
      endpoint: s3.endpoint,
      region: s3.region,
      forcePathStyle: true,
      credentials: { accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey },
    });
    const e = (await rejectionOf(target.get('k'))) as Error & { code?: string; statusCode?: number };
    expect(e.name).toBe('BackupTargetError');
    expect(e.code).toBe('NoSuchBucket');
    expect(e.statusCode).toBe(404);
    expect(Object.keys(e)).not.toContain('$response');
    expect(JSON.stringify(e)).not.toContain(s3.secretAccessKey);
    target.client.destroy();
  });
});

describe('BlobBackupTarget (Azure only)', () => {
  it('lets a separately written blob conflict and lists sizes from the service', async () => {
    const azurite = await startAzurite();
    try {
      const service = BlobServiceClient.fromConnectionString(azurite.connectionString);
      const container = service.getContainerClient('tier3');
      await container.create();
      await container.getBlockBlobClient('x/manifest').uploadData(Buffer.from('abc'));
      const target = new BlobBackupTarget(container);
      expect(target.name).toBe('azure');
      const e = await rejectionOf(target.put('x/manifest', randomBytes(4)));
      expect(isAppError(e) && e.code).toBe('conflict');
      const got = await target.get('x/manifest');
      expect(Buffer.from(got!).toString()).toBe('abc');
      const missing = new BlobBackupTarget(service.getContainerClient('no-such-container'));
      const e2 = (await rejectionOf(missing.get('k'))) as Error & { code?: string };
      expect(e2.name).toBe('BackupTargetError');
      expect(e2.code).toBe('ContainerNotFound');
    } finally {
      await azurite.close();
    }
  });
});

backupTargetContract('FolderBackupTarget (local default tiers)', async () => {
  const { mkdtempSync, rmSync } = await import('node:fs');
  const { tmpdir } = await import('node:os');
  const { join } = await import('node:path');
  const { FolderBackupTarget } = await import('../../shared/adapters/backup/folder-backup-target');
  const dir = mkdtempSync(join(tmpdir(), 'bt-folder-'));
  return {
    target: new FolderBackupTarget('own-cloud', dir),
    cleanup: async () => rmSync(dir, { recursive: true, force: true, maxRetries: 10, retryDelay: 100 }),
  };
});
