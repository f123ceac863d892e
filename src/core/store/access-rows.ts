// Row types of the access tables (migration 0015).
import type { ColumnType, Generated, Selectable } from 'kysely';
import type { ConversationRef } from '../types.ts';

type Json<T> = ColumnType<T, T | string, T | string>;

/** A row of `pairing_codes`: a one-time code an unknown user got, until an admin approves it or it expires. */
export interface PairingCodesTable {
  code: string;
  user_id: string;
  /** Where the user asked from. */
  origin: Json<ConversationRef>;
  created_at: Generated<Date>;
  expires_at: Date;
  approved_at: Date | null;
  approved_by: string | null;
}

/** A row of `access_grants`: a user an admin let in (by pairing), until revoked. */
export interface AccessGrantsTable {
  user_id: string;
  granted_by: string;
  code: string | null;
  created_at: Generated<Date>;
  revoked_at: Date | null;
  revoked_by: string | null;
}

/** A row of `access_events`, the audit trail of access decisions (code issued, approved, revoked, refused). */
export interface AccessEventsTable {
  id: Generated<string>;
  user_id: string;
  type: string;
  actor: string;
  data: Json<Record<string, unknown> | null>;
  created_at: Generated<Date>;
}

export type PairingCodeRow = Selectable<PairingCodesTable>;
export type AccessGrantRow = Selectable<AccessGrantsTable>;
export type AccessEventRow = Selectable<AccessEventsTable>;
