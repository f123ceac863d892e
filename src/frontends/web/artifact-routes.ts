// Task files over HTTP: multipart uploads (with a new task or onto one), the list, and downloads (owner/admins).
import multipart from '@fastify/multipart';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { verifyArtifactLink } from '../../core/artifacts/artifact-links.ts';
import {
  formatBytes,
  insertArtifacts,
  listArtifacts,
  readArtifact,
  type ArtifactMeta,
  type NewArtifact,
} from '../../core/artifacts/artifact-store.ts';
import { InvalidInputError, NotFoundError, TooLargeError } from '../../core/errors.ts';
import type { ArtifactRow } from '../../core/store/schema.ts';
import type { HubContext } from '../../core/hub-context.ts';
import type { TaskService } from '../../core/tasks/task-service.ts';
import { callerOf } from './auth.ts';
import { useZodSchemas, zodCompilers } from './openapi.ts';

/** Most files one request may carry. */
const MAX_FILES = 20;

/** A multipart request read whole: its text fields and its files (every file under the cap, or a 413). */
export interface Upload {
  fields: Record<string, string>;
  files: NewArtifact[];
}

/** Reads a multipart/form-data request: `file` parts (any field name) become files; other parts are fields. */
export async function readUpload(request: FastifyRequest, maxBytes: number): Promise<Upload> {
  const fields: Record<string, string> = {};
  const files: NewArtifact[] = [];
  try {
    for await (const part of request.parts()) {
      if (part.type === 'file') {
        const bytes = await part.toBuffer().catch((err: { statusCode?: number }) => {
          if (err?.statusCode === 413)
            throw new TooLargeError(
              `The file "${part.filename}" is over the ${formatBytes(maxBytes)} limit per file (MAX_ARTIFACT_BYTES); nothing was stored.`,
            );
          throw err;
        });
        files.push({ name: part.filename || part.fieldname, mediaType: part.mimetype, bytes });
      } else fields[part.fieldname] = String(part.value ?? '');
    }
  } catch (err) {
    if (err instanceof TooLargeError) throw err;
    const e = err as { statusCode?: number; message?: string };
    if (e?.statusCode === 413)
      throw new TooLargeError(`Too many parts: at most ${MAX_FILES} files per request; nothing was stored.`);
    throw new InvalidInputError(`The multipart body could not be read: ${e?.message ?? 'malformed'}.`);
  }
  return { fields, files };
}

/** Form fields as the JSON submit body would carry them (`review` as a boolean). */
export function uploadFields(fields: Record<string, string>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...fields };
  if (fields.review !== undefined)
    out.review = fields.review === 'true' ? true : fields.review === 'false' ? false : fields.review;
  return out;
}

const params = z.object({ id: z.string(), name: z.string().min(1, 'must name a file') });
const taskParams = z.object({ id: z.string() });
const linkQuery = z.object({
  exp: z.string().optional().describe('Expiry of the link (Unix seconds)'),
  sig: z.string().optional().describe('Signature of the link'),
});
const binary = z.string().meta({ format: 'binary' });
/** A file download: the bytes under the file's own media type. */
const fileResponse = {
  description: 'The file, as an attachment (header x-checksum-sha256 carries its SHA-256)',
  content: { 'application/octet-stream': { schema: binary } },
};

/** Parts of a multipart upload (documentation only: multipart bodies are read by readUpload, not validated here). */
export const uploadForm = z.object({
  file: z.array(binary).describe('One or more file parts (any part with a filename is taken as a file)'),
});

/** A file as the API lists it. */
export const artifactJson = z.object({
  name: z.string(),
  mediaType: z.string(),
  size: z.number(),
  sha256: z.string(),
  producer: z.enum(['upload', 'subtask']),
  subtaskId: z.string().nullable().describe('The step that produced it (null for uploads)'),
  createdAt: z.string(),
});
const artifactList = z.object({ artifacts: z.array(artifactJson) });

/** Validates everything but the body (a multipart body is read by the handler, not a schema). */
const bodyReadByHandler: typeof zodCompilers.validatorCompiler = (route) =>
  route.httpPart === 'body' ? (data) => ({ value: data }) : zodCompilers.validatorCompiler(route);

/** A file as the API lists it (artifactJson). */
export function serializeArtifact(a: ArtifactMeta): z.infer<typeof artifactJson> {
  return {
    name: a.name,
    mediaType: a.media_type,
    size: a.size,
    sha256: a.sha256,
    producer: a.producer === 'upload' ? 'upload' : 'subtask',
    subtaskId: a.producer === 'upload' ? null : a.producer,
    createdAt: new Date(a.created_at).toISOString(),
  };
}

/** Registers the signed-link download (no bearer token: the link's signature is the credential). */
export function registerArtifactLinkRoute(server: FastifyInstance, ctx: HubContext): void {
  // As a plugin, so that the OpenAPI generator registered before it sees the route.
  void server.register(async (scope) => linkRoute(scope, ctx));
}

function linkRoute(scope: FastifyInstance, ctx: HubContext): void {
  const app = scope.withTypeProvider<ZodTypeProvider>();
  const schema = {
    tags: ['files'],
    summary: 'Download a file through a signed link (no token: the signature is the credential)',
    security: [],
    params,
    querystring: linkQuery,
    response: { 200: fileResponse },
  };
  app.get('/files/:id/:name', { ...zodCompilers, schema }, async (request, reply) => {
    const { id, name } = request.params;
    const q = request.query;
    if (!(await verifyArtifactLink(ctx, id, name, Number(q.exp), String(q.sig ?? ''))))
      throw new NotFoundError('This link is not valid or has expired.');
    return sendFile(reply, await readArtifact(ctx.db, id, name));
  });
}

function sendFile(reply: FastifyReply, file: ArtifactRow) {
  // Served as a download, never rendered: an uploaded HTML file must not run on the API's origin.
  return reply
    .header('content-type', file.media_type)
    .header('content-disposition', `attachment; filename*=UTF-8''${encodeURIComponent(file.name)}`)
    .header('x-content-type-options', 'nosniff')
    .header('content-security-policy', "sandbox; default-src 'none'")
    .header('x-checksum-sha256', file.sha256)
    .send(file.bytes);
}

/** Registers multipart parsing and the artifact routes on the authenticated API scope. */
export function registerArtifactRoutes(api: FastifyInstance, deps: { ctx: HubContext; tasks: TaskService }): void {
  const { ctx, tasks } = deps;
  const maxBytes = ctx.config.MAX_ARTIFACT_BYTES;
  void api.register(multipart, {
    throwFileSizeLimit: true,
    limits: { fileSize: maxBytes, files: MAX_FILES, fields: 20, fieldSize: ctx.config.MAX_REQUEST_CHARS * 4 },
  });

  useZodSchemas(api);
  const app = api.withTypeProvider<ZodTypeProvider>();
  const tags = ['files'];

  app.get(
    '/api/tasks/:id/artifacts',
    { schema: { tags, summary: "A task's files", params: taskParams, response: { 200: artifactList } } },
    async (request) => {
      const task = await tasks.findVisible(request.params.id, callerOf(request));
      return { artifacts: (await listArtifacts(ctx.db, task.id)).map(serializeArtifact) };
    },
  );

  app.post(
    '/api/tasks/:id/artifacts',
    {
      validatorCompiler: bodyReadByHandler,
      schema: {
        tags,
        summary: `Add files to a task (multipart/form-data, \`file\` parts, each up to MAX_ARTIFACT_BYTES, ${MAX_FILES} at most)`,
        params: taskParams,
        consumes: ['multipart/form-data'],
        body: uploadForm,
        response: { 201: artifactList },
      },
    },
    async (request, reply) => {
      const task = await tasks.findVisible(request.params.id, callerOf(request));
      if (!request.isMultipart())
        throw new InvalidInputError('Send the files as multipart/form-data (curl -F file=@report.pdf).');
      const { files } = await readUpload(request, maxBytes);
      if (files.length === 0) throw new InvalidInputError('No file parts in the request (curl -F file=@report.pdf).');
      const stored = await insertArtifacts(ctx.db, ctx.config, task.id, files, 'upload');
      return reply.code(201).send({ artifacts: stored.map(serializeArtifact) });
    },
  );

  app.get(
    '/api/tasks/:id/artifacts/:name',
    {
      schema: {
        tags,
        summary: 'Download one file of a task (owner and admins)',
        params,
        response: { 200: fileResponse },
      },
    },
    async (request, reply) => {
      const task = await tasks.findVisible(request.params.id, callerOf(request));
      return sendFile(reply, await readArtifact(ctx.db, task.id, request.params.name));
    },
  );
}
