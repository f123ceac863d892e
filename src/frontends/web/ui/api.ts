// The dashboard's HTTP client: same-origin JSON with the session cookie and the CSRF header on changes.
import type { FailedJson, ScheduleJson, TaskJson } from '../serialize.ts';

export type { FailedJson, ScheduleJson, TaskJson };

/** Who is signed in, and the token changes must echo. */
export interface Me {
  userId: string;
  isAdmin: boolean;
  csrfToken: string;
}

/** An answer of the API that is not 2xx; `message` is the API's readable text. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

let csrf = '';

/** Remembers the CSRF token of the current session. */
export function setCsrf(token: string): void {
  csrf = token;
}

/** Calls the API with a JSON body, or multipart/form-data when `body` is a FormData; throws ApiError. */
export async function api<T = any>(method: string, path: string, body?: unknown): Promise<T> {
  const headers: Record<string, string> = {};
  const form = body instanceof FormData;
  if (body !== undefined && !form) headers['content-type'] = 'application/json';
  if (method !== 'GET') headers['x-csrf-token'] = csrf;
  const res = await fetch(path, {
    method,
    headers,
    body: body === undefined ? undefined : form ? body : JSON.stringify(body),
    credentials: 'same-origin',
  });
  const text = await res.text();
  let parsed: any = null;
  try {
    parsed = text ? JSON.parse(text) : null;
  } catch {
    /* not JSON */
  }
  // The session ended (expired, or signed out elsewhere): start over at the sign-in page.
  if (res.status === 401 && path !== '/api/session') location.reload();
  if (!res.ok) throw new ApiError(res.status, parsed?.error?.message ?? `HTTP ${res.status}`);
  return parsed as T;
}

/** Every task of the caller (or everyone's for admins with `all`), following cursors up to `max`. */
export async function loadAllTasks(max = 5000, all = false): Promise<TaskJson[]> {
  const out: TaskJson[] = [];
  let cursor: string | null = null;
  do {
    const q: string = `limit=100${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`;
    const page: { tasks: TaskJson[]; nextCursor: string | null } = await api(
      'GET',
      `${all ? '/api/admin/tasks' : '/api/tasks'}?${q}`,
    );
    out.push(...page.tasks);
    cursor = page.nextCursor;
  } while (cursor && out.length < max);
  return out;
}

/** A task file as GET /api/tasks/:id/artifacts lists it. */
export interface ArtifactJson {
  name: string;
  mediaType: string;
  size: number;
  sha256: string;
  producer: 'upload' | 'subtask';
  subtaskId: string | null;
  createdAt: string;
}

/** One entry of GET /api/tasks/:id/traces (plan decisions, LLM calls, tool calls, checkpoints, errors). */
export interface TraceJson {
  id: string;
  kind: string;
  subtaskId: string | null;
  at: string;
  data: Record<string, unknown>;
}

/** Where a task file is downloaded (the session cookie authenticates the GET). */
export const artifactUrl = (taskId: string, name: string): string =>
  `/api/tasks/${encodeURIComponent(taskId)}/artifacts/${encodeURIComponent(name)}`;
