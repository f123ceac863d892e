// A small HTTP client of the hub's API for the CLI: bearer token, JSON in and out, readable errors.
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';

/** A problem the CLI explains in one line (no stack); exit code 1. */
export class CliError extends Error {
  override name = 'CliError';
}

/** The API answered with an error; `message` is the API's own text. */
export class ApiError extends CliError {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

/** Nothing answers at the hub's URL. */
export class HubUnreachableError extends CliError {
  constructor(readonly baseUrl: string) {
    super(`Cannot reach the hub at ${baseUrl}: is it running? (start it with \`npm start\`)`);
  }
}

/** Where the hub is and how to authenticate, from the environment. */
export interface ClientSettings {
  baseUrl: string;
  token: string | null;
  /** Where the token came from, for error messages. */
  tokenSource: string;
}

/** Reads SWITCHBOARD_URL / PORT and SWITCHBOARD_TOKEN, else the token file the embedded hub writes. */
export function clientSettings(env: NodeJS.ProcessEnv = process.env): ClientSettings {
  const baseUrl = (env.SWITCHBOARD_URL || `http://127.0.0.1:${env.PORT || 3000}`).replace(/\/+$/, '');
  if (env.SWITCHBOARD_TOKEN) return { baseUrl, token: env.SWITCHBOARD_TOKEN.trim(), tokenSource: 'SWITCHBOARD_TOKEN' };
  const file = path.resolve(env.DATA_DIR || './.data', 'api-token');
  if (existsSync(file)) {
    const token = readFileSync(file, 'utf8').trim();
    if (token) return { baseUrl, token, tokenSource: file };
  }
  return { baseUrl, token: null, tokenSource: file };
}

function isNetworkError(err: unknown): boolean {
  // undici reports every connection-level failure as TypeError('fetch failed') with the cause attached.
  return err instanceof TypeError && /fetch failed/i.test(err.message);
}

/** Calls the hub's HTTP API. */
export class ApiClient {
  constructor(private readonly settings: ClientSettings) {}

  get baseUrl(): string {
    return this.settings.baseUrl;
  }

  /**
   * Sends a request and returns the parsed JSON body; non-2xx answers throw ApiError with the API's message. A
   * FormData body goes as multipart/form-data (files), anything else as JSON.
   */
  async request<T = any>(method: string, apiPath: string, body?: unknown): Promise<T> {
    const form = body instanceof FormData;
    const res = await this.fetch(apiPath, {
      method,
      headers: body === undefined || form ? {} : { 'content-type': 'application/json' },
      body: body === undefined ? undefined : form ? body : JSON.stringify(body),
    });
    const text = await res.text();
    let parsed: any = null;
    try {
      parsed = text ? JSON.parse(text) : null;
    } catch {
      /* not JSON: handled below */
    }
    if (!res.ok) throw this.apiError(res.status, parsed, text);
    if (parsed === null && text)
      throw new CliError(
        `The hub at ${this.baseUrl} answered with something that is not JSON; is SWITCHBOARD_URL right?`,
      );
    return parsed as T;
  }

  /** Opens a streaming GET (SSE); non-2xx answers throw ApiError. */
  async stream(apiPath: string, headers: Record<string, string>, signal: AbortSignal): Promise<Response> {
    return this.get(apiPath, { accept: 'text/event-stream', ...headers }, signal);
  }

  /** A GET whose body the caller reads itself (a download); non-2xx answers throw ApiError. */
  async get(apiPath: string, headers: Record<string, string> = {}, signal?: AbortSignal): Promise<Response> {
    const res = await this.fetch(apiPath, { method: 'GET', headers, signal });
    if (!res.ok) {
      const text = await res.text();
      let parsed: any = null;
      try {
        parsed = JSON.parse(text);
      } catch {
        /* handled by apiError */
      }
      throw this.apiError(res.status, parsed, text);
    }
    return res;
  }

  private async fetch(apiPath: string, init: RequestInit): Promise<Response> {
    if (!this.settings.token) {
      throw new CliError(
        `No API token: set SWITCHBOARD_TOKEN, or run the hub on this machine (\`npm start\` writes ${this.settings.tokenSource}).`,
      );
    }
    const headers = { ...(init.headers as Record<string, string>), authorization: `Bearer ${this.settings.token}` };
    try {
      return await fetch(`${this.settings.baseUrl}${apiPath}`, { ...init, headers });
    } catch (err) {
      if (isNetworkError(err)) throw new HubUnreachableError(this.settings.baseUrl);
      throw err;
    }
  }

  private apiError(status: number, parsed: any, text: string): ApiError {
    const code = typeof parsed?.error?.code === 'string' ? parsed.error.code : `http_${status}`;
    let message =
      typeof parsed?.error?.message === 'string'
        ? parsed.error.message
        : `The hub answered HTTP ${status}${text ? `: ${text.slice(0, 200)}` : ''}.`;
    if (status === 401) message += ` (token from ${this.settings.tokenSource})`;
    return new ApiError(status, code, message);
  }
}
