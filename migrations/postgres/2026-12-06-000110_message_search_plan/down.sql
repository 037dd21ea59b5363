DROP FUNCTION portal_message_search(TEXT, TEXT, TEXT, INTEGER);
