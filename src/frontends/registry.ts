// The frontends running in this process, by platform name.
import type { IFrontend } from './frontend.ts';

/** Looks frontends up by platform; starts and stops them together. */
export class FrontendRegistry {
  private readonly byName = new Map<string, IFrontend>();

  /** Adds a frontend; its name is the platform it serves. */
  register(frontend: IFrontend): void {
    if (this.byName.has(frontend.name)) throw new Error(`Frontend ${frontend.name} is registered twice.`);
    this.byName.set(frontend.name, frontend);
  }

  /** The frontend for a platform, if it runs here. */
  get(platform: string): IFrontend | undefined {
    return this.byName.get(platform);
  }

  /** Every registered frontend. */
  all(): IFrontend[] {
    return [...this.byName.values()];
  }

  async startAll(): Promise<void> {
    for (const f of this.byName.values()) await f.start();
  }

  async stopAll(): Promise<void> {
    for (const f of [...this.byName.values()].reverse()) await f.stop().catch(() => {});
  }
}
