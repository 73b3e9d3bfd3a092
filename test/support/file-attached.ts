import type { NewEvent } from '../../shared/domain/events';

/**
 * A record `id` of type doc created with one file attached (`f1`, stored as `blobName`): the
 * events a stored-files check reads, appended straight to a log in tests that lose objects.
 */
export function recordWithFile(id: string, blobName: string): NewEvent[] {
  return [
    { type: 'RecordCreated', data: { type: 'doc', id, data: {} } },
    {
      type: 'FileAttached',
      data: {
        type: 'doc',
        id,
        fileId: 'f1',
        blobName,
        name: 'a.txt',
        size: 8,
        contentType: 'text/plain',
        sha256: '',
        keyId: 'k',
        changes: [],
      },
    },
  ];
}
