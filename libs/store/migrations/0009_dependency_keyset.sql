-- The read model pages dependencies in SQL (ReadModel::ListDependencies): a keyset on
-- (from_service, to_name, kind) compared byte-wise (COLLATE "C", the contract's order whatever
-- the database's collation), with LIMIT. The primary key's index follows the database's
-- collation, so it cannot serve that order; this one can, for the whole list and for one
-- from_service alike. The upsert never changes these columns, so the index costs an Apply
-- only when it inserts a new edge.
CREATE INDEX dependencies_keyset_idx
  ON dependencies (from_service COLLATE "C", to_name COLLATE "C", kind COLLATE "C");
