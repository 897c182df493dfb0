-- Encrypted JSON and bytes fields in Json and Bytes columns (their ciphertexts as a JSON string
-- and as bytes), so the client types them as what they hold.
UPDATE `User` SET `prefs` = JSON_QUOTE(`prefs`) WHERE `prefs` IS NOT NULL;
ALTER TABLE `User` MODIFY `prefs` JSON NULL, MODIFY `avatar` LONGBLOB NULL;
