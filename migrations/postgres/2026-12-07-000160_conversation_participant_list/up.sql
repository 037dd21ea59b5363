-- Everyone in a conversation, on the conversation's row: a JSON array of
-- [kind, id, display name], staff before portal users, each by name (bytewise). An inbox line
-- names the others from it, where it had read every participant row of the page in a second
-- statement (about 50 index look-ups a page of 25, a fifth of the database's work
-- for an inbox request, measured).
-- It never changes: nobody joins or leaves a conversation once it is started, and the names are
-- those of its start (as in `conversation_participants.display_name`, which it copies).
ALTER TABLE conversations ADD COLUMN participant_list TEXT NOT NULL DEFAULT '[]';
UPDATE conversations c SET participant_list = l.list
FROM (
    SELECT conversation_id,
           json_agg(json_build_array(participant_kind, participant_id, display_name)
                    ORDER BY participant_kind DESC, display_name COLLATE "C")::text AS list
    FROM conversation_participants GROUP BY conversation_id
) l
WHERE l.conversation_id = c.id;
-- Every conversation is written with its list (`portal_store::messaging::insert_conversation`):
-- one written without it would be refused rather than shown without its people.
ALTER TABLE conversations ALTER COLUMN participant_list DROP DEFAULT;
