/*
 * The outbound webhook body. Everything in it is copied by name from the
 * tables below; a field the tables do not name cannot reach an integrator,
 * whatever the inbound event carries and at whatever depth.
 *
 * Type handling, the same at every depth:
 *  - a scalar field takes a string, number or boolean as it is (strings
 *    repaired to valid UTF-8); null, an object or an array in its place
 *    counts as missing;
 *  - a missing field is omitted, except externalId, which is null;
 *  - an array of strings keeps only its strings, an array of objects only
 *    its objects, each reduced to its own allow-list; anything but an array
 *    in their place is dropped.
 */

#include "render.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "text.h"

enum field_kind {
    FIELD_SCALAR,   /* omitted when missing */
    FIELD_NULLABLE, /* a scalar sent as null when missing (externalId) */
    FIELD_STRINGS,  /* an array of strings */
    FIELD_OBJECTS   /* an array of objects, each reduced to .fields */
};

struct field {
    const char *name;
    enum field_kind kind;
    const struct field *fields; /* FIELD_OBJECTS only */
};

/* The tables are laid out by hand, one field a line. */
/* clang-format off */
#define SCALAR(n)     {n, FIELD_SCALAR, NULL}
#define NULLABLE(n)   {n, FIELD_NULLABLE, NULL}
#define STRINGS(n)    {n, FIELD_STRINGS, NULL}
#define OBJECTS(n, f) {n, FIELD_OBJECTS, f}
#define END           {NULL, FIELD_SCALAR, NULL}

/* The public data fields of SPEC section 2, in the order they are sent. */

static const struct field VALIDATION_ERROR[] = {
    SCALAR("field"),
    SCALAR("message"),
    END
};

static const struct field STOP[] = {
    SCALAR("sequence"),
    SCALAR("appointmentId"),
    SCALAR("targetId"),
    NULLABLE("externalId"),
    SCALAR("plannedArrivalUtc"),
    END
};

static const struct field TARGET_IMPORTED[] = {
    SCALAR("targetId"),
    NULLABLE("externalId"),
    SCALAR("sourceSystem"),
    SCALAR("status"),
    SCALAR("importedAtUtc"),
    END
};

static const struct field TARGET_REJECTED[] = {
    SCALAR("targetId"),
    NULLABLE("externalId"),
    SCALAR("sourceSystem"),
    SCALAR("status"),
    SCALAR("rejectionReason"),
    OBJECTS("validationErrors", VALIDATION_ERROR),
    END
};

static const struct field TARGET_UPDATED[] = {
    SCALAR("targetId"),
    NULLABLE("externalId"),
    SCALAR("sourceSystem"),
    SCALAR("status"),
    STRINGS("changedFields"),
    END
};

static const struct field TARGET_CANCELLED[] = {
    SCALAR("targetId"),
    NULLABLE("externalId"),
    SCALAR("sourceSystem"),
    SCALAR("status"),
    SCALAR("cancelledAtUtc"),
    SCALAR("cancellationReason"),
    END
};

static const struct field TARGET_SCHEDULED[] = {
    SCALAR("targetId"),
    NULLABLE("externalId"),
    SCALAR("sourceSystem"),
    SCALAR("status"),
    SCALAR("appointmentId"),
    SCALAR("scheduledStartUtc"),
    SCALAR("scheduledEndUtc"),
    END
};

static const struct field ROUTE_SUGGESTION_CREATED[] = {
    SCALAR("routeSuggestionId"),
    SCALAR("routeDate"),
    SCALAR("employeeId"),
    SCALAR("stopCount"),
    END
};

static const struct field ROUTE_PUBLISHED[] = {
    SCALAR("routeId"),
    SCALAR("routeDate"),
    SCALAR("employeeId"),
    OBJECTS("stops", STOP),
    END
};

static const struct field APPOINTMENT_STARTED[] = {
    SCALAR("appointmentId"),
    SCALAR("targetId"),
    NULLABLE("externalId"),
    SCALAR("sourceSystem"),
    SCALAR("status"),
    SCALAR("startedAtUtc"),
    SCALAR("employeeId"),
    END
};

static const struct field APPOINTMENT_COMPLETED[] = {
    SCALAR("appointmentId"),
    SCALAR("targetId"),
    NULLABLE("externalId"),
    SCALAR("sourceSystem"),
    SCALAR("status"),
    SCALAR("completedAtUtc"),
    END
};

static const struct field APPOINTMENT_PROBLEM_REPORTED[] = {
    SCALAR("appointmentId"),
    SCALAR("targetId"),
    NULLABLE("externalId"),
    SCALAR("sourceSystem"),
    SCALAR("status"),
    SCALAR("problemCode"),
    SCALAR("problemDescription"),
    END
};

static const struct field VISIT_REPORT_APPROVED[] = {
    SCALAR("visitReportId"),
    SCALAR("appointmentId"),
    SCALAR("targetId"),
    NULLABLE("externalId"),
    SCALAR("sourceSystem"),
    SCALAR("approvedAtUtc"),
    END
};

static const struct field VISIT_REPORT_FOLLOW_UP_REQUIRED[] = {
    SCALAR("visitReportId"),
    SCALAR("appointmentId"),
    SCALAR("targetId"),
    NULLABLE("externalId"),
    SCALAR("sourceSystem"),
    SCALAR("followUpReason"),
    END
};

static const struct field BILLING_EVENT_CREATED[] = {
    SCALAR("billingEventId"),
    SCALAR("visitReportId"),
    SCALAR("appointmentId"),
    SCALAR("targetId"),
    NULLABLE("externalId"),
    SCALAR("sourceSystem"),
    END
};

/* data.billing, sent only under includeBillingDetails and billingAllowed. */
static const struct field BILLING[] = {
    SCALAR("billingCode"),
    SCALAR("quantity"),
    SCALAR("unitPrice"),
    SCALAR("amount"),
    SCALAR("currency"),
    END
};
/* clang-format on */

/* What an event type may add to data beyond its public fields, each under
 * its payload option. */
enum data_extra {
    EXTRA_NONE = 0,
    EXTRA_SUMMARY_PREVIEW = 1, /* data.summaryPreview from data.summary */
    EXTRA_BILLING = 2          /* data.billing from data.billing */
};

static const struct event_fields {
    const char *event_type;
    const struct field *fields;
    enum data_extra extra;
} EVENT_FIELDS[] = {
    {"target.imported", TARGET_IMPORTED, EXTRA_NONE},
    {"target.rejected", TARGET_REJECTED, EXTRA_NONE},
    {"target.updated", TARGET_UPDATED, EXTRA_NONE},
    {"target.cancelled", TARGET_CANCELLED, EXTRA_NONE},
    {"target.scheduled", TARGET_SCHEDULED, EXTRA_NONE},
    {"route.suggestion.created", ROUTE_SUGGESTION_CREATED, EXTRA_NONE},
    {"route.published", ROUTE_PUBLISHED, EXTRA_NONE},
    {"appointment.started", APPOINTMENT_STARTED, EXTRA_NONE},
    {"appointment.completed", APPOINTMENT_COMPLETED, EXTRA_NONE},
    {"appointment.problem_reported", APPOINTMENT_PROBLEM_REPORTED, EXTRA_NONE},
    {"visit_report.approved", VISIT_REPORT_APPROVED, EXTRA_SUMMARY_PREVIEW},
    {"visit_report.follow_up_required", VISIT_REPORT_FOLLOW_UP_REQUIRED,
     EXTRA_SUMMARY_PREVIEW},
    {"billing.event_created", BILLING_EVENT_CREATED, EXTRA_BILLING},
};

/* The CustomerContext blocks of SPEC section 5. Each block is the Ordinavo
 * id, the externalId for the subscription's source system, then the record
 * fields below, every one present (null when unknown). */
struct context_block {
    const char *name;
    const char *id_key;
    const char *const *fields;
};

static const char *const CUSTOMER_FIELDS[] = {"customerNumber", "name", NULL};
static const char *const LOCATION_FIELDS[] = {"name", NULL};
static const char *const CONTACT_FIELDS[] = {"displayName", "phone", "email",
                                             NULL};

static const struct context_block CUSTOMER_BLOCK = {
    "customer", "ordinavoCustomerId", CUSTOMER_FIELDS};
static const struct context_block LOCATION_BLOCK = {
    "location", "ordinavoLocationId", LOCATION_FIELDS};
static const struct context_block CONTACT_BLOCK = {
    "contact", "ordinavoContactId", CONTACT_FIELDS};

/* The hash fields render_context_record() keeps besides externalId:*. */
static const char *const RECORD_FIELDS[] = {
    "name", "customerNumber", "displayName", "phone", "email", NULL};

#define EXTERNAL_ID_PREFIX     "externalId:"
#define EXTERNAL_ID_PREFIX_LEN (sizeof EXTERNAL_ID_PREFIX - 1)

/* Sets key (a static ASCII name) to a new value; a NULL value is an earlier
 * allocation failure. Returns 0, or -1 when out of memory. */
static int set_new(json_t *obj, const char *key, json_t *value)
{
    if (value == NULL) {
        return -1;
    }
    return json_object_set_new_nocheck(obj, key, value);
}

/* A body string from a NUL-terminated C string; null for NULL. */
static json_t *c_string(const char *s)
{
    if (s == NULL) {
        return json_null();
    }
    return text_json_string(s, strlen(s));
}

static bool is_scalar(const json_t *v)
{
    return json_is_string(v) || json_is_number(v) || json_is_boolean(v) ||
           json_is_null(v);
}

/* A new copy of a scalar (strings repaired), or NULL when out of memory. */
static json_t *copy_scalar(const json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_STRING:
        return text_json_string(json_string_value(v), json_string_length(v));
    case JSON_INTEGER:
        return json_integer(json_integer_value(v));
    case JSON_REAL:
        return json_real(json_real_value(v));
    case JSON_TRUE:
        return json_true();
    case JSON_FALSE:
        return json_false();
    default:
        return json_null();
    }
}

static json_t *reduce_object(const json_t *in, const struct field *fields);

/* The strings of an inbound array, or NULL when out of memory. */
static json_t *reduce_strings(const json_t *in)
{
    json_t *out = json_array();
    if (out == NULL) {
        return NULL;
    }
    for (size_t i = 0; i < json_array_size(in); i++) {
        const json_t *v = json_array_get(in, i);
        if (json_is_string(v) &&
            json_array_append_new(out, copy_scalar(v)) < 0) {
            json_decref(out);
            return NULL;
        }
    }
    return out;
}

/* The objects of an inbound array, each reduced to fields, or NULL when out
 * of memory. */
static json_t *reduce_objects(const json_t *in, const struct field *fields)
{
    json_t *out = json_array();
    if (out == NULL) {
        return NULL;
    }
    for (size_t i = 0; i < json_array_size(in); i++) {
        const json_t *v = json_array_get(in, i);
        if (json_is_object(v) &&
            json_array_append_new(out, reduce_object(v, fields)) < 0) {
            json_decref(out);
            return NULL;
        }
    }
    return out;
}

/* Copies one allow-listed field from in to out, if its value has the
 * expected shape. Returns 0, or -1 when out of memory. */
static int copy_field(json_t *out, const struct field *f, const json_t *in)
{
    const json_t *v = json_object_get(in, f->name);

    switch (f->kind) {
    case FIELD_SCALAR:
        /* SPEC 2: a missing value is omitted, not sent as null. */
        return is_scalar(v) && !json_is_null(v)
                   ? set_new(out, f->name, copy_scalar(v))
                   : 0;
    case FIELD_NULLABLE:
        return set_new(out, f->name,
                       is_scalar(v) ? copy_scalar(v) : json_null());
    case FIELD_STRINGS:
        return json_is_array(v) ? set_new(out, f->name, reduce_strings(v)) : 0;
    case FIELD_OBJECTS:
        return json_is_array(v)
                   ? set_new(out, f->name, reduce_objects(v, f->fields))
                   : 0;
    }
    return 0;
}

/* A new object holding only the allow-listed fields of in (which may be
 * NULL or not an object: then only the nullable fields, as nulls). Returns
 * NULL when out of memory. */
static json_t *reduce_object(const json_t *in, const struct field *fields)
{
    json_t *out = json_object();
    if (out == NULL) {
        return NULL;
    }
    for (const struct field *f = fields; f->name != NULL; f++) {
        if (copy_field(out, f, in) < 0) {
            json_decref(out);
            return NULL;
        }
    }
    return out;
}

static const struct event_fields *event_fields(const char *event_type)
{
    size_t n = sizeof EVENT_FIELDS / sizeof EVENT_FIELDS[0];

    for (size_t i = 0; event_type != NULL && i < n; i++) {
        if (strcmp(EVENT_FIELDS[i].event_type, event_type) == 0) {
            return &EVENT_FIELDS[i];
        }
    }
    return NULL;
}

/* data.summaryPreview, when the inbound data has a string summary. */
static int add_summary_preview(json_t *out, const json_t *in)
{
    const json_t *summary = json_object_get(in, "summary");
    if (!json_is_string(summary)) {
        return 0;
    }

    char *preview = text_summary_preview(json_string_value(summary),
                                         json_string_length(summary));
    if (preview == NULL) {
        return -1;
    }
    /* Already repaired, so jansson's own check is not needed. */
    int rc = set_new(out, "summaryPreview",
                     json_stringn_nocheck(preview, strlen(preview)));
    free(preview);
    return rc;
}

/* data.billing, when the inbound data has a billing object. */
static int add_billing(json_t *out, const json_t *in)
{
    const json_t *billing = json_object_get(in, "billing");
    if (!json_is_object(billing)) {
        return 0;
    }
    return set_new(out, "billing", reduce_object(billing, BILLING));
}

/* The data object: the public fields of the event type, then what the
 * payload options add. An unknown type (the codecs reject those) gets an
 * empty object rather than a guess. Returns NULL when out of memory. */
static json_t *render_data(const event_t *ev, const subscription_t *sub)
{
    static const struct field NO_FIELDS[] = {END};
    const struct event_fields *ef = event_fields(ev->event_type);
    const json_t *in = ev->data;

    json_t *out = reduce_object(in, ef != NULL ? ef->fields : NO_FIELDS);
    if (out == NULL || ef == NULL) {
        return out;
    }

    int rc = 0;
    if ((ef->extra & EXTRA_SUMMARY_PREVIEW) && sub->include_summary_preview) {
        rc = add_summary_preview(out, in);
    }
    if (rc == 0 && (ef->extra & EXTRA_BILLING) &&
        sub->include_billing_details && sub->billing_allowed) {
        rc = add_billing(out, in);
    }
    if (rc < 0) {
        json_decref(out);
        return NULL;
    }
    return out;
}

/* The record's "externalId:{system}" value, or NULL when the subscription
 * has no source system or the record has no id for it. */
static const json_t *record_external_id(json_t *rec, const char *system)
{
    const char *key;
    size_t key_len;
    json_t *value;

    if (rec == NULL || system == NULL) {
        return NULL;
    }
    size_t system_len = strlen(system);
    json_object_keylen_foreach(rec, key, key_len, value)
    {
        if (key_len == EXTERNAL_ID_PREFIX_LEN + system_len &&
            memcmp(key, EXTERNAL_ID_PREFIX, EXTERNAL_ID_PREFIX_LEN) == 0 &&
            memcmp(key + EXTERNAL_ID_PREFIX_LEN, system, system_len) == 0) {
            return value;
        }
    }
    return NULL;
}

/* A record value as sent: its string, or null for anything else. */
static json_t *record_value(const json_t *v)
{
    return json_is_string(v) ? copy_scalar(v) : json_null();
}

/* One CustomerContext block. rec is NULL for a cache miss. Returns NULL
 * when out of memory. */
static json_t *context_block(const struct context_block *b, int64_t id,
                             json_t *rec, const char *system)
{
    json_t *out = json_object();
    if (out == NULL) {
        return NULL;
    }

    int rc = set_new(out, b->id_key, json_integer(id));
    if (rc == 0) {
        rc = set_new(out, "externalId",
                     record_value(record_external_id(rec, system)));
    }
    for (const char *const *f = b->fields; rc == 0 && *f != NULL; f++) {
        rc = set_new(out, *f, record_value(json_object_get(rec, *f)));
    }
    if (rc < 0) {
        json_decref(out);
        return NULL;
    }
    return out;
}

/* Adds the block to cc when wanted and the event has the ref. */
static int add_block(json_t *cc, const struct context_block *b, bool wanted,
                     const event_ref_t *ref, json_t *rec, const char *system)
{
    if (!wanted || !ref->present) {
        return 0;
    }
    return set_new(cc, b->name, context_block(b, ref->id, rec, system));
}

/* Adds customerContext to body unless it would have no block. */
static int add_customer_context(json_t *body, const event_t *ev,
                                const subscription_t *sub,
                                const render_context_t *ctx)
{
    static const render_context_t none = {NULL, NULL, NULL};
    const char *system = sub->source_system;

    if (ctx == NULL) {
        ctx = &none;
    }

    json_t *cc = json_object();
    if (cc == NULL) {
        return -1;
    }
    if (add_block(cc, &CUSTOMER_BLOCK, sub->include_customer_context,
                  &ev->customer, ctx->customer, system) < 0 ||
        add_block(cc, &LOCATION_BLOCK, sub->include_customer_context,
                  &ev->location, ctx->location, system) < 0 ||
        add_block(cc, &CONTACT_BLOCK, sub->include_contact_details,
                  &ev->contact, ctx->contact, system) < 0) {
        json_decref(cc);
        return -1;
    }
    if (json_object_size(cc) == 0) {
        json_decref(cc);
        return 0;
    }
    return set_new(body, "customerContext", cc);
}

json_t *render_body(const event_t *ev, const subscription_t *sub,
                    const render_context_t *ctx, const char *delivery_id)
{
    json_t *body = json_object();
    if (body == NULL) {
        return NULL;
    }

    if (set_new(body, "eventId", c_string(ev->event_id)) < 0 ||
        set_new(body, "eventType", c_string(ev->event_type)) < 0 ||
        set_new(body, "eventVersion", c_string(ev->event_version)) < 0 ||
        set_new(body, "tenantId", json_integer(ev->tenant_id)) < 0 ||
        set_new(body, "occurredAtUtc", c_string(ev->occurred_at)) < 0 ||
        set_new(body, "deliveryId", c_string(delivery_id)) < 0 ||
        set_new(body, "source", json_string_nocheck("ordinavo")) < 0 ||
        set_new(body, "data", render_data(ev, sub)) < 0 ||
        add_customer_context(body, ev, sub, ctx) < 0) {
        json_decref(body);
        return NULL;
    }
    return body;
}

/* True when fields[i] is one of the names a context block may use. */
static bool record_field_kept(const char *name, size_t len)
{
    if (len > EXTERNAL_ID_PREFIX_LEN &&
        memcmp(name, EXTERNAL_ID_PREFIX, EXTERNAL_ID_PREFIX_LEN) == 0) {
        /* A name that is not valid UTF-8 matches no subscription's source
         * system (those come from JSON), so it is dropped, not repaired. */
        return text_utf8_valid(name, len);
    }
    for (const char *const *f = RECORD_FIELDS; *f != NULL; f++) {
        if (strlen(*f) == len && memcmp(*f, name, len) == 0) {
            return true;
        }
    }
    return false;
}

json_t *render_context_record(const char *const *fields,
                              const size_t *field_lens,
                              const char *const *values,
                              const size_t *value_lens, size_t n)
{
    json_t *rec = json_object();
    if (rec == NULL) {
        return NULL;
    }

    for (size_t i = 0; i < n; i++) {
        if (fields[i] == NULL || !record_field_kept(fields[i], field_lens[i])) {
            continue;
        }
        json_t *v = text_json_string(values[i], value_lens[i]);
        if (v == NULL || json_object_setn_new_nocheck(rec, fields[i],
                                                      field_lens[i], v) < 0) {
            json_decref(rec);
            return NULL;
        }
    }
    return rec;
}

/* The fewest significant digits (1..17) that read back as d exactly. */
static int real_digits(double d)
{
    char buf[32];

    for (int p = 1; p < 17; p++) {
        snprintf(buf, sizeof buf, "%.*g", p, d);
        if (strtod(buf, NULL) == d) {
            return p;
        }
    }
    return 17;
}

/* The most digits any real in v needs (0 when it holds none). */
static int max_real_digits(json_t *v)
{
    int max = 0;
    int d;

    if (json_is_real(v)) {
        return real_digits(json_real_value(v));
    }
    if (json_is_array(v)) {
        for (size_t i = 0; i < json_array_size(v); i++) {
            d = max_real_digits(json_array_get(v, i));
            max = d > max ? d : max;
        }
    } else if (json_is_object(v)) {
        const char *key;
        json_t *value;
        json_object_foreach(v, key, value)
        {
            d = max_real_digits(value);
            max = d > max ? d : max;
        }
    }
    return max;
}

void render_narrow(json_t *body, const subscription_t *sub)
{
    json_t *ctx = json_object_get(body, "customerContext");
    json_t *data = json_object_get(body, "data");

    if (json_is_object(ctx)) {
        if (!sub->include_customer_context) {
            json_object_del(ctx, "customer");
            json_object_del(ctx, "location");
        }
        if (!sub->include_contact_details) {
            json_object_del(ctx, "contact");
        }
        if (json_object_size(ctx) == 0) {
            json_object_del(body, "customerContext");
        }
    }
    if (json_is_object(data)) {
        if (!sub->include_billing_details || !sub->billing_allowed) {
            json_object_del(data, "billing");
        }
        if (!sub->include_summary_preview) {
            json_object_del(data, "summaryPreview");
        }
    }
}

char *render_dump(const json_t *body, size_t *len)
{
    /* jansson prints every real with one fixed precision (17 digits by
     * default, so 12.34 becomes 12.339999999999999). Choosing the smallest
     * precision that still reads back every real of the body exactly gives
     * amounts as an integrator expects them without losing any value.
     * jansson has no const iteration, hence the cast; nothing is changed. */
    int digits = max_real_digits((json_t *)body);
    size_t flags = JSON_COMPACT;
    if (digits > 0) {
        flags |= JSON_REAL_PRECISION(digits);
    }

    char *s = json_dumps(body, flags);
    if (s != NULL && len != NULL) {
        *len = strlen(s);
    }
    return s;
}
