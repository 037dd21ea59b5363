-- Everyone in a conversation, on the conversation's row: a JSON array of
-- [kind, id, display name], staff before portal users, each by name (bytewise). An inbox line
-- names the others from it, where it had read every participant row of the page in a second
-- statement.
-- It never changes: nobody joins or leaves a conversation once it is started, and the names are
-- those of its start (as in `conversation_participants.display_name`, which it copies).
-- SQLite adds a NOT NULL column only with a default; every conversation is written with its list
-- (`portal_store::messaging::insert_conversation`).
ALTER TABLE conversations ADD COLUMN participant_list TEXT NOT NULL DEFAULT '[]';
UPDATE conversations SET participant_list = (
    SELECT json_group_array(json_array(p.participant_kind, p.participant_id, p.display_name)
                            ORDER BY p.participant_kind DESC, p.display_name)
    FROM conversation_participants p
    WHERE p.conversation_id = conversations.id
)
WHERE EXISTS (SELECT 1 FROM conversation_participants p WHERE p.conversation_id = conversations.id);
