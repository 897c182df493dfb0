-- A view over User, declared to rowcrypt with viewOf: confined and decrypted as User, read-only.
CREATE VIEW "UserCard" AS SELECT "id", "name", "email", "ssn", "age", "wrappedDek", "keyVersion", "tenantId" FROM "User";
