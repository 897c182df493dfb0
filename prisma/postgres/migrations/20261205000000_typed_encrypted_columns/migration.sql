-- Encrypted JSON and bytes fields in Json and Bytes columns (their ciphertexts as a JSON string
-- and as bytes), so the client types them as what they hold.
ALTER TABLE "User"
  ALTER COLUMN "prefs" SET DATA TYPE JSONB USING to_jsonb("prefs"),
  ALTER COLUMN "avatar" SET DATA TYPE BYTEA USING convert_to("avatar", 'UTF8');
