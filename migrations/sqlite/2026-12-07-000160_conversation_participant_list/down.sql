ALTER TABLE conversations DROP COLUMN participant_list;
