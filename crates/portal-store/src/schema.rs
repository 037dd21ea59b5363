//! The one hand-written schema, with types that map alike on SQLite and PostgreSQL.

diesel::table! {
    organization (id) {
        id -> Integer,
        name -> Text,
        phone -> Nullable<Text>,
        logo_content_type -> Nullable<Text>,
        logo -> Nullable<Binary>,
        brand_by_location -> Bool,
        use_portal -> Bool,
        updated_at -> Timestamp,
        auto_enable_portal -> Bool,
        portal_messaging_recipients -> Text,
    }
}

diesel::table! {
    setting_changes (id) {
        id -> Text,
        setting -> Text,
        old_value -> Text,
        new_value -> Text,
        fee_locations -> Nullable<BigInt>,
        fee_total_cents -> Nullable<BigInt>,
        acknowledged -> Bool,
        changed_by -> Nullable<Text>,
        changed_by_name -> Text,
        ip -> Nullable<Text>,
        changed_at -> Timestamp,
    }
}

diesel::table! {
    locations (id) {
        id -> Text,
        name -> Text,
        address_line1 -> Nullable<Text>,
        city -> Nullable<Text>,
        state -> Nullable<Text>,
        zip -> Nullable<Text>,
        phone -> Nullable<Text>,
        time_zone -> Text,
        logo_content_type -> Nullable<Text>,
        logo -> Nullable<Binary>,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        auto_enable_portal -> Nullable<Bool>,
    }
}

diesel::table! {
    staff_users (id) {
        id -> Text,
        email -> Text,
        name -> Text,
        password_hash -> Text,
        role -> Text,
        active -> Bool,
        perm_allow_document_share -> Bool,
        perm_available_for_portal_messages -> Bool,
        perm_manage_portal_packages -> Bool,
        perm_manage_portal_settings -> Bool,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    staff_locations (staff_id, location_id) {
        staff_id -> Text,
        location_id -> Text,
    }
}

diesel::table! {
    sessions (token_hash) {
        token_hash -> Text,
        user_kind -> Text,
        user_id -> Text,
        created_at -> Timestamp,
        last_seen_at -> Timestamp,
        absolute_expires_at -> Timestamp,
        ip -> Nullable<Text>,
        user_agent -> Nullable<Text>,
    }
}

diesel::table! {
    sign_in_failures (account_key) {
        account_key -> Text,
        consecutive_failures -> Integer,
        last_failure_at -> Timestamp,
    }
}

diesel::table! {
    counters (name) {
        name -> Text,
        value -> BigInt,
    }
}

diesel::table! {
    patients (id) {
        id -> Text,
        record_number -> Text,
        first_name -> Text,
        last_name -> Text,
        search_name -> Text,
        date_of_birth -> Date,
        email -> Nullable<Text>,
        phone -> Nullable<Text>,
        address_line1 -> Nullable<Text>,
        city -> Nullable<Text>,
        state -> Nullable<Text>,
        zip -> Nullable<Text>,
        location_id -> Text,
        status -> Text,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        portal_access -> Bool,
        portal_last_invited_at -> Nullable<Timestamp>,
        portal_last_signed_in_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    patient_contacts (id) {
        id -> Text,
        patient_id -> Text,
        kind -> Text,
        first_name -> Text,
        last_name -> Text,
        relation -> Nullable<Text>,
        email -> Nullable<Text>,
        phone -> Nullable<Text>,
        created_at -> Timestamp,
    }
}

diesel::table! {
    care_team_members (patient_id, staff_id) {
        patient_id -> Text,
        staff_id -> Text,
        team_role -> Text,
        added_at -> Timestamp,
    }
}

diesel::table! {
    audit_log (seq) {
        seq -> BigInt,
        at -> Timestamp,
        actor_kind -> Text,
        actor_id -> Nullable<Text>,
        actor_name -> Text,
        action -> Text,
        patient_id -> Nullable<Text>,
        target_kind -> Nullable<Text>,
        target_id -> Nullable<Text>,
        detail -> Text,
        ip -> Nullable<Text>,
        prev_hash -> Text,
        hash -> Text,
    }
}

diesel::table! {
    audit_head (id) {
        id -> Integer,
        seq -> BigInt,
        hash -> Text,
    }
}

diesel::table! {
    audit_pending (id) {
        id -> BigInt,
        at -> Timestamp,
        actor_kind -> Text,
        actor_id -> Nullable<Text>,
        actor_name -> Text,
        action -> Text,
        patient_id -> Nullable<Text>,
        target_kind -> Nullable<Text>,
        target_id -> Nullable<Text>,
        detail -> Text,
        ip -> Nullable<Text>,
    }
}

diesel::table! {
    outbox_events (id) {
        id -> Text,
        kind -> Text,
        payload -> Text,
        created_at -> Timestamp,
        available_at -> Timestamp,
        attempts -> Integer,
        last_error -> Nullable<Text>,
        claimed_until -> Nullable<Timestamp>,
        delivered_at -> Nullable<Timestamp>,
        dead_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    portal_accounts (id) {
        id -> Text,
        username -> Nullable<Text>,
        email -> Text,
        display_name -> Text,
        password_hash -> Nullable<Text>,
        must_change_password -> Bool,
        active -> Bool,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        registered_at -> Nullable<Timestamp>,
        first_signed_in_at -> Nullable<Timestamp>,
        last_signed_in_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    portal_grants (id) {
        id -> Text,
        account_id -> Text,
        patient_id -> Text,
        relation -> Text,
        contact_id -> Nullable<Text>,
        scopes -> Text,
        ends_on -> Nullable<Date>,
        created_by -> Nullable<Text>,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        revoked_at -> Nullable<Timestamp>,
        revoked_by -> Nullable<Text>,
    }
}

diesel::table! {
    account_tokens (token_hash) {
        token_hash -> Text,
        purpose -> Text,
        account_id -> Nullable<Text>,
        patient_id -> Nullable<Text>,
        email -> Text,
        data -> Text,
        created_by -> Nullable<Text>,
        created_at -> Timestamp,
        expires_at -> Timestamp,
        used_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    bulk_jobs (id) {
        id -> Text,
        kind -> Text,
        created_by -> Nullable<Text>,
        created_by_name -> Text,
        status -> Text,
        total -> Integer,
        processed -> Integer,
        enabled -> Integer,
        sent -> Integer,
        skipped -> Integer,
        skipped_reasons -> Text,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        finished_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    portal_handout (id) {
        id -> Integer,
        title -> Text,
        body -> Text,
        updated_by -> Nullable<Text>,
        updated_by_name -> Text,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    conversations (id) {
        seq -> BigInt,
        id -> Text,
        kind -> Text,
        patient_id -> Nullable<Text>,
        subject -> Nullable<Text>,
        participant_names -> Text,
        started_by_kind -> Text,
        started_by_id -> Text,
        created_at -> Timestamp,
        last_message_at -> Timestamp,
        message_count -> Integer,
        participant_list -> Text,
    }
}

diesel::table! {
    conversation_participants (conversation_id, participant_kind, participant_id) {
        conversation_id -> Text,
        participant_kind -> Text,
        participant_id -> Text,
        display_name -> Text,
        archived -> Bool,
        archived_at -> Nullable<Timestamp>,
        last_message_at -> Timestamp,
        unread_count -> Integer,
        last_read_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    messages (id) {
        seq -> BigInt,
        id -> Text,
        conversation_id -> Text,
        sender_kind -> Text,
        sender_id -> Text,
        sender_name -> Text,
        body -> Text,
        created_at -> Timestamp,
        idempotency_key -> Nullable<Text>,
    }
}

diesel::table! {
    portal_requests (id) {
        seq -> BigInt,
        id -> Text,
        patient_id -> Text,
        location_id -> Text,
        patient_name -> Text,
        account_id -> Text,
        requester_name -> Text,
        relation -> Text,
        kind -> Text,
        details -> Text,
        summary -> Text,
        search_text -> Text,
        status -> Text,
        archived -> Bool,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        dismissed_at -> Nullable<Timestamp>,
        dismissed_by_name -> Nullable<Text>,
        idempotency_key -> Nullable<Text>,
    }
}

diesel::table! {
    portal_request_counts (location_id) {
        location_id -> Text,
        open_count -> BigInt,
    }
}

diesel::table! {
    portal_request_events (id) {
        seq -> BigInt,
        id -> Text,
        request_id -> Text,
        kind -> Text,
        actor_kind -> Text,
        actor_id -> Text,
        actor_name -> Text,
        conversation_id -> Nullable<Text>,
        message_id -> Nullable<Text>,
        created_at -> Timestamp,
    }
}

diesel::table! {
    portal_request_tasks (id) {
        id -> Text,
        request_id -> Text,
        patient_id -> Text,
        location_id -> Text,
        kind -> Text,
        title -> Text,
        body -> Text,
        status -> Text,
        created_by_id -> Text,
        created_by_name -> Text,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        completed_at -> Nullable<Timestamp>,
        completed_by_name -> Nullable<Text>,
    }
}

diesel::table! {
    notification_rules (id) {
        id -> Text,
        location_id -> Text,
        event -> Text,
        name -> Text,
        starts_on -> Date,
        ends_on -> Nullable<Date>,
        severity -> Text,
        recipient_users -> Text,
        recipient_care_team -> Bool,
        recipient_roles -> Text,
        title -> Text,
        message -> Text,
        toast -> Bool,
        email -> Bool,
        deleted_at -> Nullable<Timestamp>,
        created_by_name -> Text,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    staff_notifications (id) {
        id -> Text,
        staff_id -> Text,
        rule_id -> Nullable<Text>,
        event_id -> Nullable<Text>,
        patient_id -> Nullable<Text>,
        location_id -> Text,
        severity -> Text,
        title -> Text,
        body -> Text,
        link -> Nullable<Text>,
        toast -> Bool,
        email -> Bool,
        created_at -> Timestamp,
        toasted_at -> Nullable<Timestamp>,
        read_at -> Nullable<Timestamp>,
    }
}

diesel::joinable!(staff_locations -> staff_users (staff_id));
diesel::joinable!(staff_locations -> locations (location_id));
diesel::joinable!(patients -> locations (location_id));
diesel::joinable!(patient_contacts -> patients (patient_id));
diesel::joinable!(care_team_members -> patients (patient_id));
diesel::joinable!(care_team_members -> staff_users (staff_id));
diesel::joinable!(portal_grants -> portal_accounts (account_id));
diesel::joinable!(portal_grants -> patients (patient_id));
diesel::joinable!(conversations -> patients (patient_id));
diesel::joinable!(conversation_participants -> conversations (conversation_id));
diesel::joinable!(messages -> conversations (conversation_id));
diesel::joinable!(portal_request_events -> portal_requests (request_id));
diesel::joinable!(portal_request_tasks -> portal_requests (request_id));

diesel::allow_tables_to_appear_in_same_query!(
    organization,
    setting_changes,
    locations,
    staff_users,
    staff_locations,
    sessions,
    sign_in_failures,
    counters,
    patients,
    patient_contacts,
    care_team_members,
    audit_log,
    audit_head,
    outbox_events,
    portal_accounts,
    portal_grants,
    account_tokens,
    bulk_jobs,
    portal_handout,
    conversations,
    conversation_participants,
    messages,
    portal_requests,
    portal_request_counts,
    portal_request_events,
    portal_request_tasks,
    notification_rules,
    staff_notifications,
);
