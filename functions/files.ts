import { app } from '@azure/functions';
import { decodeExtended, parse as parseContentDisposition } from 'content-disposition';
import { validation } from '../shared/domain/errors';
import { DRILL_PREFIX } from '../shared/app/service';
import { allTenantIds } from '../shared/app/tenants/tenant-pages';
import { asOfParam, type Ctx, etag, existingTenant, idempotency, ifMatch, param } from './http';
import { type Answer, http, type OperationCtx, type Principal, progressive, type Reply } from './operation';
import { errorMessage } from './log';
import { timer } from './timer';
import { timerEntry } from './timers';

/**
 * File name from `X-File-Name` (percent-encoded UTF-8) or Content-Disposition (RFC 6266:
 * `filename*` in RFC 8187 encoding wins over `filename`). Bad percent-encoding → 400; what a
 * name may contain is checked by the file service (shared/domain/file-name.ts).
 */
function fileName(ctx: Ctx): string {
  const raw = ctx.req.headers.get('x-file-name');
  if (raw !== null) {
    try {
      return decodeURIComponent(raw);
    } catch {
      throw validation('X-File-Name must be percent-encoded UTF-8.');
    }
  }
  const cd = ctx.req.headers.get('content-disposition');
  if (cd !== null) {
    const { parameters } = parseContentDisposition(cd);
    const extended = parameters['filename*'];
    if (extended !== undefined) {
      const decoded = decodeExtended(extended);
      if (decoded === undefined) {
        throw validation(
          `Content-Disposition filename* must be RFC 8187 encoded: UTF-8''<percent-encoded UTF-8 bytes> (or ISO-8859-1''…).`,
          [{ path: 'filename*', message: 'bad charset or percent-encoding' }],
        );
      }
      return decoded;
    }
    if (parameters.filename !== undefined) return parameters.filename;
  }
  throw validation('Name the file with an X-File-Name header (or Content-Disposition: attachment; filename="…").');
}

function declaredLength(ctx: Ctx): number | undefined {
  const v = ctx.req.headers.get('content-length');
  return v === null ? undefined : Number(v);
}

async function* bodyOf(ctx: Ctx): AsyncGenerator<Uint8Array> {
  if (!ctx.req.body) return;
  for await (const chunk of ctx.req.body as unknown as AsyncIterable<Uint8Array>) yield chunk;
}

/** Upload (POST …/files) and replace (PUT …/files/{fileId}): the body is streamed, encrypted and stored. */
async function upload(ctx: Ctx, p: Principal, replaceFileId: string | undefined) {
  const type = param(ctx.req, 'type');
  const id = param(ctx.req, 'id');
  const expected = ifMatch(ctx.req);
  const contentType = (ctx.req.headers.get('content-type') ?? 'application/octet-stream').trim();
  const length = declaredLength(ctx);
  const name = fileName(ctx);
  // The body is not part of the hash: a retry is answered before its body is read.
  const idem = idempotency(ctx.req, { name, contentType, length: length ?? null });
  const r = await ctx.services.files.upload(
    p,
    { type, id, name, contentType, declaredLength: length, replaceFileId, ifMatch: expected, body: bodyOf(ctx) },
    { correlationId: ctx.correlationId, idempotency: idem },
  );
  return {
    status: r.status,
    body: { ...r.file, recordVersion: r.record.version },
    headers: {
      etag: etag(r.record.version),
      location: `/api/t/${p.tenantId}/records/${type}/${id}/files/${r.file.fileId}`,
      ...(r.replayed ? { 'idempotency-replayed': 'true' } : {}),
    },
  };
}

export async function uploadFile(ctx: OperationCtx<'uploadFile'>): Promise<Answer<'uploadFile'>> {
  const r = await upload(ctx, ctx.principal, undefined);
  return { ...r, status: 201 };
}
http('uploadFile', uploadFile);

export async function replaceFile(ctx: OperationCtx<'replaceFile'>): Promise<Answer<'replaceFile'>> {
  const r = await upload(ctx, ctx.principal, param(ctx.req, 'fileId'));
  return { ...r, status: 200 };
}
http('replaceFile', replaceFile);

export async function downloadFile(ctx: OperationCtx<'downloadFile'>): Promise<Answer<'downloadFile'>> {
  const asOf = asOfParam(ctx.req);
  const v = ctx.req.query.get('version');
  if (v !== null && !/^[1-9]\d{0,14}$/.test(v)) throw validation('version must be a positive integer.');
  const f = await ctx.services.files.open(ctx.principal, {
    type: param(ctx.req, 'type'),
    id: param(ctx.req, 'id'),
    fileId: param(ctx.req, 'fileId'),
    asOf,
    version: v !== null ? Number(v) : undefined,
    range: parseRange(ctx.req.headers.get('range')),
  });
  const headers: Record<string, string> = {
    'content-type': f.file.contentType,
    'content-length': String(f.length),
    'accept-ranges': 'bytes',
    etag: `"${f.file.sha256}"`,
    'content-disposition': `attachment; filename*=UTF-8''${encodeURIComponent(f.file.name)}`,
    'x-content-sha256': f.file.sha256,
  };
  if (f.contentRange) headers['content-range'] = f.contentRange;
  return { status: f.status, headers, body: f.body };
}
http('downloadFile', downloadFile);

export async function deleteFile(ctx: OperationCtx<'deleteFile'>): Promise<Answer<'deleteFile'>> {
  const r = await ctx.services.files.delete(
    ctx.principal,
    { type: param(ctx.req, 'type'), id: param(ctx.req, 'id'), fileId: param(ctx.req, 'fileId'), ifMatch: ifMatch(ctx.req) },
    { correlationId: ctx.correlationId, idempotency: idempotency(ctx.req, null) },
  );
  return { status: 204, headers: { etag: etag(r.record.version), ...(r.replayed ? { 'idempotency-replayed': 'true' } : {}) } };
}
http('deleteFile', deleteFile);

export async function rotateTenantKey(ctx: OperationCtx<'rotateTenantKey'>): Promise<Answer<'rotateTenantKey'>> {
  const tenant = await existingTenant(ctx);
  const resume = ctx.req.query.get('resume') === 'true';
  return progressive<Reply<'rotateTenantKey'>>(async (report) => {
    const r = await ctx.services.files.rotateKey(tenant, { newVersion: !resume, onProgress: (done) => report({ phase: 'files', done }) });
    return { status: 200, body: r };
  });
}
http('rotateTenantKey', rotateTenantKey);

app.timer('sweepOrphanFiles', {
  ...timerEntry('sweepOrphanFiles'),
  handler: timer(async ({ services: s, log }) => {
    const n = { tenants: 0, checked: 0, deleted: 0, unfinished: 0, unfinishedBytes: 0, failed: 0 };
    // Each tenant once an hour, spread over the hour: this run takes the tenants due since the
    // last one (shared/app/changes/spread.ts), reading the meta of those only.
    const { due, untilMs } = await s.spread.orphanSweep.due(await s.directory.listTenantIds());
    for (const tenant of due) {
      try {
        const meta = await s.directory.getMeta(tenant);
        if (meta?.status !== 'ready') continue;
        n.tenants++;
        const r = await s.files.sweepOrphans(tenant);
        n.checked += r.checked;
        n.deleted += r.deleted;
        n.unfinished += r.unfinished;
        n.unfinishedBytes += r.unfinishedBytes;
        if (r.deleted || r.unfinished)
          log.info('files.sweep', {
            tenant,
            outcome: 'ok',
            checked: r.checked,
            deleted: r.deleted,
            unfinished: r.unfinished,
            unfinishedBytes: r.unfinishedBytes,
          });
      } catch (e) {
        n.failed++;
        log.warn('files.sweep', { tenant, outcome: 'failed', error: errorMessage(e), note: 'swept again in its next period' });
      }
    }
    await s.spread.orphanSweep.finished(untilMs);
    return n;
  }),
});

/** How many missing files one log line names (the status endpoint lists up to 100). */
const MISSING_IN_LOG = 20;

app.timer('checkStoredFiles', {
  // At start (in the background: the host serves requests meanwhile), then daily.
  ...timerEntry('checkStoredFiles'),
  handler: timer(async ({ services: s, log }) => {
    const n = { tenants: 0, attached: 0, missing: 0, failed: 0 };
    // One tenant at a time: the check is a background chore, never a burst of load.
    // Ready tenants from the tenant index where there is one (no folder listing; checkReady
    // still reads the meta of any tenant its mark does not answer for).
    // With a change journal (embedded), a tenant not written since the last run is answered from its mark.
    await s.fileCheck.beginRun();
    for await (const tenant of allTenantIds(s.directory, { status: 'ready' })) {
      if (tenant.startsWith(DRILL_PREFIX)) continue;
      try {
        const r = await s.fileCheck.checkReady(tenant);
        if (!r) continue;
        n.tenants++;
        n.attached += r.attached;
        n.missing += r.missing;
        if (r.missing > 0) {
          log.error('files.check', {
            tenant,
            outcome: 'missing',
            attached: r.attached,
            missing: r.missing,
            missingFiles: r.missingFiles
              .slice(0, MISSING_IN_LOG)
              .map((f) => `${f.type}/${f.id}/${f.fileId}@${f.version}`)
              .join(' '),
            note: 'acknowledged files whose stored object is gone; see GET /api/t/{tenant}/status',
          });
        }
      } catch (e) {
        n.failed++;
        log.warn('files.check', { tenant, outcome: 'failed', error: errorMessage(e), note: 'the next run retries' });
      }
    }
    await s.fileCheck.saveMarks();
    return n;
  }),
});

/** `Range: bytes=a-b | a- | -n`; other or multiple ranges are ignored (the whole file is sent). */
function parseRange(h: string | null): { start?: number; end?: number } | undefined {
  if (!h) return undefined;
  const m = /^bytes=(\d{0,15})-(\d{0,15})$/.exec(h.trim());
  if (!m || (m[1] === '' && m[2] === '')) return undefined;
  if (m[1] === '') return { end: Number(m[2]) };
  return { start: Number(m[1]), ...(m[2] !== '' ? { end: Number(m[2]) } : {}) };
}
