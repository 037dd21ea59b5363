ALTER FUNCTION portal_request_archive_search(BOOLEAN, TEXT, BIGINT, BIGINT, TEXT, TEXT, TEXT[])
    RESET enable_memoize;
