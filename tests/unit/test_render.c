/*
 * Unit tests for render.c: the allow-listed webhook body. Events and
 * subscriptions are built by hand here; tests/golden covers the same ground
 * through the real decoders.
 *
 * Expected JSON is written with single quotes for readability; q() turns
 * them into double quotes (no test value contains an apostrophe).
 */

#include "unit.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "render.h"
#include "text.h"

#define EVENT_ID    "evt_01HYZ9M3RA5T8W2K7Q4N6P1XCV"
#define DELIVERY_ID "del_01HYZ9M9VQ3B6D8F0G2H4J6K8M"
#define FFFD        "\xEF\xBF\xBD"

/* The envelope every body here starts with, up to the data key. */
#define ENVELOPE(type)                                                         \
    "{'eventId':'" EVENT_ID "','eventType':'" type "','eventVersion':'v1',"    \
    "'tenantId':15,'occurredAtUtc':'2026-06-25T14:31:00Z',"                    \
    "'deliveryId':'" DELIVERY_ID "','source':'ordinavo',"

static char SYS_ERP[] = "logistics_erp";
static char SYS_CRM[] = "crm";
static char SYS_EMPTY[] = "";
static char SYS_NONE[] = "billing_hub";

/* A new copy of s with every ' turned into ". */
static char *q(const char *s)
{
    char *out = strdup(s);
    assert_non_null(out);
    for (char *p = out; *p != '\0'; p++) {
        if (*p == '\'') {
            *p = '"';
        }
    }
    return out;
}

/* Parses single-quoted JSON. */
static json_t *load(const char *single_quoted)
{
    char *s = q(single_quoted);
    json_error_t err;
    json_t *v = json_loads(s, 0, &err);
    if (v == NULL) {
        fail_msg("bad test JSON: %s: %s", err.text, s);
    }
    free(s);
    return v;
}

/* Checks the compact serialisation of v against single-quoted JSON, or
 * that v is NULL when want is NULL. */
static void assert_json(const json_t *v, const char *want)
{
    if (want == NULL) {
        assert_null(v);
        return;
    }
    assert_non_null(v);

    size_t len = 0;
    char *got = render_dump(v, &len);
    assert_non_null(got);
    assert_int_equal(len, strlen(got));
    assert_true(text_utf8_valid(got, len));

    char *expected = q(want);
    if (strcmp(got, expected) != 0) {
        print_error("expected: %s\nactual:   %s\n", expected, got);
    }
    assert_string_equal(got, expected);
    free(expected);
    free(got);
}

/* An event of the given type whose data is the single-quoted JSON object;
 * the event owns it. Refs are absent; tests set them. */
static void make_event(event_t *ev, const char *type, const char *data)
{
    memset(ev, 0, sizeof *ev);
    ev->root = load(data);
    ev->data = ev->root;
    ev->event_id = EVENT_ID;
    ev->event_type = type;
    ev->event_version = "v1";
    ev->tenant_id = 15;
    ev->occurred_at = "2026-06-25T14:31:00Z";
    ev->source_system = "logistics_erp";
}

static void set_refs(event_t *ev, bool customer, bool location, bool contact)
{
    ev->customer.present = customer;
    ev->customer.id = 12;
    ev->location.present = location;
    ev->location.id = 34;
    ev->contact.present = contact;
    ev->contact.id = 56;
}

/* A subscription with the SPEC section 4 defaults, for logistics_erp. */
static void make_sub(subscription_t *sub)
{
    memset(sub, 0, sizeof *sub);
    sub->tenant_id = 15;
    sub->source_system = SYS_ERP;
    sub->active = true;
    sub->include_customer_context = true;
    sub->include_contact_details = true;
}

/* The three records of the SPEC section 5 example, with ids for two source
 * systems, and internal fields that must never be sent even if a record
 * reached the renderer unfiltered. */
struct records {
    json_t *customer;
    json_t *location;
    json_t *contact;
    render_context_t ctx;
};

static void make_records(struct records *r)
{
    r->customer = load("{'name':'Rhein-Ruhr Medical Supply',"
                       "'customerNumber':'RRM-001',"
                       "'externalId:logistics_erp':'CUST-10042',"
                       "'externalId:crm':'C-77',"
                       "'internalNotes':'LEAK','creditLimit':'LEAK'}");
    r->location = load("{'name':'Essen Center',"
                       "'externalId:logistics_erp':'LOC-ESSEN-01',"
                       "'externalId:crm_eu':'LEAK','accessCode':'LEAK'}");
    r->contact = load("{'displayName':'Anna Weber',"
                      "'phone':'+49 201 555 0100',"
                      "'email':'anna.weber@example.com',"
                      "'externalId:logistics_erp':'CONT-44',"
                      "'externalId:crm':'P-9','privateMobile':'LEAK'}");
    r->ctx.customer = r->customer;
    r->ctx.location = r->location;
    r->ctx.contact = r->contact;
}

static void free_records(struct records *r)
{
    json_decref(r->customer);
    json_decref(r->location);
    json_decref(r->contact);
}

/* Renders and returns the compact body; the caller frees it. */
static char *render_string(const event_t *ev, const subscription_t *sub,
                           const render_context_t *ctx)
{
    json_t *body = render_body(ev, sub, ctx, DELIVERY_ID);
    assert_non_null(body);
    char *s = render_dump(body, NULL);
    assert_non_null(s);
    json_decref(body);
    return s;
}

/* Checks one member of the rendered body ("data" or "customerContext");
 * want NULL means the member must be absent. */
static void assert_member(const event_t *ev, const subscription_t *sub,
                          const render_context_t *ctx, const char *member,
                          const char *want)
{
    json_t *body = render_body(ev, sub, ctx, DELIVERY_ID);
    assert_non_null(body);
    assert_json(json_object_get(body, member), want);
    json_decref(body);
}

static void assert_data(const event_t *ev, const subscription_t *sub,
                        const char *want)
{
    assert_member(ev, sub, NULL, "data", want);
}

static void assert_context(const event_t *ev, const subscription_t *sub,
                           const render_context_t *ctx, const char *want)
{
    assert_member(ev, sub, ctx, "customerContext", want);
}

/* The SPEC section 5 example, whole: envelope order, data order of the
 * SPEC section 2 table, every block. */
static void test_spec_example(void **state)
{
    (void)state;
    event_t ev;
    subscription_t sub;
    struct records r;

    make_event(&ev, "appointment.completed",
               "{'targetId':991,'externalId':'DEL-2026-000918',"
               "'sourceSystem':'logistics_erp','appointmentId':441,"
               "'status':'Completed','internalNotes':'LEAK',"
               "'customerNumber':'LEAK','accessToken':'LEAK',"
               "'summary':'LEAK'}");
    set_refs(&ev, true, true, true);
    make_sub(&sub);
    make_records(&r);

    char *got = render_string(&ev, &sub, &r.ctx);
    char *want = q(ENVELOPE(
        "appointment.completed") "'data':{"
                                 "'appointmentId':441,'targetId':991,"
                                 "'externalId':'DEL-2026-000918',"
                                 "'sourceSystem':'logistics_erp',"
                                 "'status':'Completed'},"
                                 "'customerContext':{"
                                 "'customer':{'ordinavoCustomerId':12,"
                                 "'externalId':'CUST-10042',"
                                 "'customerNumber':'RRM-001',"
                                 "'name':'Rhein-Ruhr Medical Supply'},"
                                 "'location':{'ordinavoLocationId':34,"
                                 "'externalId':'LOC-ESSEN-01',"
                                 "'name':'Essen Center'},"
                                 "'contact':{'ordinavoContactId':56,"
                                 "'externalId':'CONT-44',"
                                 "'displayName':'Anna Weber',"
                                 "'phone':'+49 201 555 0100',"
                                 "'email':'anna.weber@example.com'}}}");
    assert_string_equal(got, want);
    assert_null(strstr(got, "LEAK"));
    free(got);
    free(want);
    free_records(&r);
    json_decref(ev.root);
}

/* Data keys follow the table, not the inbound order. */
static void test_data_order(void **state)
{
    (void)state;
    event_t ev;
    subscription_t sub;

    make_event(&ev, "target.scheduled",
               "{'scheduledEndUtc':'2026-07-01T10:00:00Z',"
               "'scheduledStartUtc':'2026-07-01T09:00:00Z',"
               "'appointmentId':441,'status':'Scheduled',"
               "'sourceSystem':'logistics_erp','externalId':'DEL-1',"
               "'targetId':991,'secret':'LEAK'}");
    make_sub(&sub);
    assert_data(&ev, &sub,
                "{'targetId':991,'externalId':'DEL-1',"
                "'sourceSystem':'logistics_erp','status':'Scheduled',"
                "'appointmentId':441,"
                "'scheduledStartUtc':'2026-07-01T09:00:00Z',"
                "'scheduledEndUtc':'2026-07-01T10:00:00Z'}");
    json_decref(ev.root);
}

/* Missing public fields are omitted; externalId alone becomes null. */
static void test_missing_fields(void **state)
{
    (void)state;
    event_t ev;
    subscription_t sub;

    make_event(&ev, "appointment.started",
               "{'appointmentId':441,'internalNotes':'LEAK'}");
    make_sub(&sub);
    assert_data(&ev, &sub, "{'appointmentId':441,'externalId':null}");
    json_decref(ev.root);

    make_event(&ev, "route.suggestion.created", "{}");
    assert_data(&ev, &sub, "{}");
    json_decref(ev.root);
}

/* Strings, numbers and booleans are copied as they are; an explicit null
 * counts as missing (omitted), and an object or array where a scalar belongs
 * is dropped (externalId: null). */
static void test_scalar_types(void **state)
{
    (void)state;
    event_t ev;
    subscription_t sub;

    make_event(&ev, "target.cancelled",
               "{'targetId':{'id':991,'secret':'LEAK'},"
               "'externalId':['LEAK'],'sourceSystem':null,"
               "'status':true,'cancelledAtUtc':12.5,"
               "'cancellationReason':-7}");
    make_sub(&sub);
    assert_data(&ev, &sub,
                "{'externalId':null,'status':true,"
                "'cancelledAtUtc':12.5,'cancellationReason':-7}");
    json_decref(ev.root);

    make_event(&ev, "target.imported",
               "{'targetId':991,'externalId':{'value':'LEAK'},"
               "'status':false,'importedAtUtc':[]}");
    assert_data(&ev, &sub, "{'targetId':991,'externalId':null,'status':false}");
    json_decref(ev.root);
}

static void test_validation_errors(void **state)
{
    (void)state;
    event_t ev;
    subscription_t sub;

    make_event(&ev, "target.rejected",
               "{'targetId':991,'externalId':'DEL-1','status':'Rejected',"
               "'rejectionReason':'validation_failed',"
               "'validationErrors':["
               "{'message':'must not be empty','field':'zip',"
               "'internalNotes':'LEAK','rule':'LEAK'},"
               "'LEAK',42,null,['LEAK'],"
               "{'field':{'path':'LEAK'},'message':'bad date'},"
               "{'internalNotes':'LEAK'}],"
               "'rawPayload':{'validationErrors':'LEAK'}}");
    make_sub(&sub);
    assert_data(&ev, &sub,
                "{'targetId':991,'externalId':'DEL-1','status':'Rejected',"
                "'rejectionReason':'validation_failed',"
                "'validationErrors':["
                "{'field':'zip','message':'must not be empty'},"
                "{'message':'bad date'},{}]}");
    json_decref(ev.root);

    /* Not an array: dropped. An empty array stays empty. */
    make_event(&ev, "target.rejected",
               "{'targetId':1,'validationErrors':{'field':'LEAK'}}");
    assert_data(&ev, &sub, "{'targetId':1,'externalId':null}");
    json_decref(ev.root);

    make_event(&ev, "target.rejected", "{'targetId':1,'validationErrors':[]}");
    assert_data(&ev, &sub,
                "{'targetId':1,'externalId':null,'validationErrors':[]}");
    json_decref(ev.root);
}

static void test_stops(void **state)
{
    (void)state;
    event_t ev;
    subscription_t sub;

    make_event(&ev, "route.published",
               "{'routeId':77,'routeDate':'2026-07-01','employeeId':5,"
               "'driverPhone':'LEAK','stops':["
               "{'plannedArrivalUtc':'2026-07-01T08:15:00Z',"
               "'externalId':'DEL-1','targetId':991,'appointmentId':441,"
               "'sequence':1,'internalNotes':'LEAK',"
               "'address':{'street':'LEAK'},'accessCode':'LEAK'},"
               "{'sequence':2,'targetId':992},"
               "{'sequence':3,'externalId':{'x':'LEAK'},"
               "'targetId':['LEAK']},"
               "'LEAK']}");
    make_sub(&sub);
    /* A route has no externalId of its own; each stop does. */
    assert_data(&ev, &sub,
                "{'routeId':77,'routeDate':'2026-07-01','employeeId':5,"
                "'stops':["
                "{'sequence':1,'appointmentId':441,'targetId':991,"
                "'externalId':'DEL-1',"
                "'plannedArrivalUtc':'2026-07-01T08:15:00Z'},"
                "{'sequence':2,'targetId':992,'externalId':null},"
                "{'sequence':3,'externalId':null}]}");
    json_decref(ev.root);

    make_event(&ev, "route.published", "{'routeId':77,'stops':'LEAK'}");
    assert_data(&ev, &sub, "{'routeId':77}");
    json_decref(ev.root);
}

static void test_changed_fields(void **state)
{
    (void)state;
    event_t ev;
    subscription_t sub;

    make_event(&ev, "target.updated",
               "{'targetId':991,'externalId':'DEL-1','status':'Imported',"
               "'changedFields':['status',5,{'internalNotes':'LEAK'},"
               "null,['LEAK'],true,'address.zip'],"
               "'previousValues':{'status':'LEAK'}}");
    make_sub(&sub);
    assert_data(&ev, &sub,
                "{'targetId':991,'externalId':'DEL-1','status':'Imported',"
                "'changedFields':['status','address.zip']}");
    json_decref(ev.root);

    make_event(&ev, "target.updated",
               "{'targetId':991,'changedFields':'status'}");
    assert_data(&ev, &sub, "{'targetId':991,'externalId':null}");
    json_decref(ev.root);
}

/* The codecs reject unknown types; should one get here, no field is
 * guessed at. */
static void test_unknown_type(void **state)
{
    (void)state;
    event_t ev;
    subscription_t sub;

    make_event(&ev, "target.exploded",
               "{'targetId':991,'externalId':'DEL-1','secret':'LEAK'}");
    make_sub(&sub);
    assert_data(&ev, &sub, "{}");
    ev.event_type = NULL;
    assert_data(&ev, &sub, "{}");
    json_decref(ev.root);
}

/* Each of the 13 types keeps exactly its public fields, in table order,
 * when the inbound data carries every public field of every type. */
static void test_every_type(void **state)
{
    (void)state;
    static const struct {
        const char *type;
        const char *want;
    } cases[] = {
        {"target.imported", "{'targetId':1,'externalId':'E','sourceSystem':"
                            "'S','status':'St','importedAtUtc':'T1'}"},
        {"target.rejected",
         "{'targetId':1,'externalId':'E','sourceSystem':'S','status':'St',"
         "'rejectionReason':'R','validationErrors':[{'field':'f',"
         "'message':'m'}]}"},
        {"target.updated", "{'targetId':1,'externalId':'E','sourceSystem':"
                           "'S','status':'St','changedFields':['c']}"},
        {"target.cancelled",
         "{'targetId':1,'externalId':'E','sourceSystem':'S','status':'St',"
         "'cancelledAtUtc':'T2','cancellationReason':'CR'}"},
        {"target.scheduled",
         "{'targetId':1,'externalId':'E','sourceSystem':'S','status':'St',"
         "'appointmentId':2,'scheduledStartUtc':'T3',"
         "'scheduledEndUtc':'T4'}"},
        {"route.suggestion.created", "{'routeSuggestionId':3,'routeDate':"
                                     "'D','employeeId':4,'stopCount':5}"},
        {"route.published",
         "{'routeId':6,'routeDate':'D','employeeId':4,'stops':[{'sequence':"
         "1,'appointmentId':2,'targetId':1,'externalId':'E',"
         "'plannedArrivalUtc':'T5'}]}"},
        {"appointment.started",
         "{'appointmentId':2,'targetId':1,'externalId':'E','sourceSystem':"
         "'S','status':'St','startedAtUtc':'T6','employeeId':4}"},
        {"appointment.completed",
         "{'appointmentId':2,'targetId':1,'externalId':'E','sourceSystem':"
         "'S','status':'St','completedAtUtc':'T7'}"},
        {"appointment.problem_reported",
         "{'appointmentId':2,'targetId':1,'externalId':'E','sourceSystem':"
         "'S','status':'St','problemCode':'P','problemDescription':'PD'}"},
        {"visit_report.approved",
         "{'visitReportId':7,'appointmentId':2,'targetId':1,'externalId':"
         "'E','sourceSystem':'S','approvedAtUtc':'T8'}"},
        {"visit_report.follow_up_required",
         "{'visitReportId':7,'appointmentId':2,'targetId':1,'externalId':"
         "'E','sourceSystem':'S','followUpReason':'F'}"},
        {"billing.event_created",
         "{'billingEventId':8,'visitReportId':7,'appointmentId':2,"
         "'targetId':1,'externalId':'E','sourceSystem':'S'}"},
    };
    /* Every public field of every type, plus internal ones, in an order
     * unlike any table's. */
    const char *all =
        "{'internalNotes':'LEAK','followUpReason':'F','stopCount':5,"
        "'problemDescription':'PD','problemCode':'P','approvedAtUtc':'T8',"
        "'completedAtUtc':'T7','startedAtUtc':'T6','scheduledEndUtc':'T4',"
        "'scheduledStartUtc':'T3','cancellationReason':'CR',"
        "'cancelledAtUtc':'T2','changedFields':['c'],"
        "'validationErrors':[{'message':'m','field':'f','x':'LEAK'}],"
        "'rejectionReason':'R','importedAtUtc':'T1','status':'St',"
        "'sourceSystem':'S','externalId':'E','targetId':1,"
        "'stops':[{'plannedArrivalUtc':'T5','externalId':'E','targetId':1,"
        "'appointmentId':2,'sequence':1,'internalNotes':'LEAK'}],"
        "'employeeId':4,'routeDate':'D','routeId':6,'routeSuggestionId':3,"
        "'appointmentId':2,'visitReportId':7,'billingEventId':8,"
        "'summary':'LEAK','billing':{'amount':'LEAK'},"
        "'customerNumber':'LEAK','token':'LEAK'}";
    subscription_t sub;
    make_sub(&sub);

    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        event_t ev;
        make_event(&ev, cases[i].type, all);
        assert_data(&ev, &sub, cases[i].want);
        json_decref(ev.root);
    }
}

static void test_summary_preview(void **state)
{
    (void)state;
    event_t ev;
    subscription_t sub;
    char long_summary[400];

    /* 41 words of "word " and an internal marker far past the cut. */
    long_summary[0] = '\0';
    for (int i = 0; i < 41; i++) {
        strcat(long_summary, "word ");
    }
    strcat(long_summary, "LEAK");
    json_t *data = load("{'visitReportId':7,'appointmentId':2,"
                        "'targetId':1,'externalId':'E',"
                        "'approvedAtUtc':'T8'}");
    json_object_set_new(data, "summary", json_string(long_summary));

    memset(&ev, 0, sizeof ev);
    ev.root = data;
    ev.data = data;
    ev.event_id = EVENT_ID;
    ev.event_type = "visit_report.approved";
    make_sub(&sub);

    /* Off by default: neither summary nor preview. */
    assert_data(&ev, &sub,
                "{'visitReportId':7,'appointmentId':2,'targetId':1,"
                "'externalId':'E','approvedAtUtc':'T8'}");

    /* On: after the public fields, cut after the 40th word. */
    sub.include_summary_preview = true;
    char want[600] = "{'visitReportId':7,'appointmentId':2,'targetId':1,"
                     "'externalId':'E','approvedAtUtc':'T8',"
                     "'summaryPreview':'";
    for (int i = 0; i < 39; i++) {
        strcat(want, "word ");
    }
    strcat(want, "word\xE2\x80\xA6'}");
    assert_data(&ev, &sub, want);

    /* The other visit_report type too; a short summary is sent whole. */
    ev.event_type = "visit_report.follow_up_required";
    json_object_set_new(data, "summary", json_string("Pump replaced."));
    json_object_set_new(data, "followUpReason", json_string("parts"));
    assert_data(&ev, &sub,
                "{'visitReportId':7,'appointmentId':2,'targetId':1,"
                "'externalId':'E','followUpReason':'parts',"
                "'summaryPreview':'Pump replaced.'}");

    /* An empty summary is a summary: sent as an empty preview. */
    json_object_set_new(data, "summary", json_string(""));
    assert_data(&ev, &sub,
                "{'visitReportId':7,'appointmentId':2,'targetId':1,"
                "'externalId':'E','followUpReason':'parts',"
                "'summaryPreview':''}");

    /* A summary that is not a string, or null: no preview. */
    json_object_set_new(data, "summary", load("{'text':'LEAK'}"));
    assert_data(&ev, &sub,
                "{'visitReportId':7,'appointmentId':2,'targetId':1,"
                "'externalId':'E','followUpReason':'parts'}");
    json_object_set_new(data, "summary", json_null());
    assert_data(&ev, &sub,
                "{'visitReportId':7,'appointmentId':2,'targetId':1,"
                "'externalId':'E','followUpReason':'parts'}");

    /* Other types never get one, even with the option and a summary. */
    json_object_set_new(data, "summary", json_string("LEAK"));
    ev.event_type = "appointment.completed";
    assert_data(&ev, &sub, "{'appointmentId':2,'targetId':1,'externalId':'E'}");
    json_decref(data);
}

static void test_billing(void **state)
{
    (void)state;
    event_t ev;
    subscription_t sub;
    static const char *const without =
        "{'billingEventId':8,'visitReportId':7,'appointmentId':2,"
        "'targetId':1,'externalId':'E','sourceSystem':'S'}";

    make_event(&ev, "billing.event_created",
               "{'billing':{'currency':'EUR','amount':24.68,"
               "'unitPrice':12.34,'quantity':2,'billingCode':'SVC-01',"
               "'internalCostCenter':'LEAK','margin':0.31},"
               "'sourceSystem':'S','externalId':'E','targetId':1,"
               "'appointmentId':2,'visitReportId':7,'billingEventId':8,"
               "'invoiceToken':'LEAK'}");
    make_sub(&sub);

    /* Only option and permission together send it. */
    assert_data(&ev, &sub, without);
    sub.include_billing_details = true;
    assert_data(&ev, &sub, without);
    sub.include_billing_details = false;
    sub.billing_allowed = true;
    assert_data(&ev, &sub, without);
    sub.include_billing_details = true;
    assert_data(&ev, &sub,
                "{'billingEventId':8,'visitReportId':7,'appointmentId':2,"
                "'targetId':1,'externalId':'E','sourceSystem':'S',"
                "'billing':{'billingCode':'SVC-01','quantity':2,"
                "'unitPrice':12.34,'amount':24.68,'currency':'EUR'}}");
    json_decref(ev.root);

    /* Missing and null billing fields are omitted, wrong shapes dropped. */
    make_event(&ev, "billing.event_created",
               "{'billingEventId':8,'billing':{'amount':99,"
               "'currency':{'code':'LEAK'},'unitPrice':null}}");
    assert_data(&ev, &sub,
                "{'billingEventId':8,'externalId':null,"
                "'billing':{'amount':99}}");
    json_decref(ev.root);

    /* No billing object: no billing key. */
    make_event(&ev, "billing.event_created",
               "{'billingEventId':8,'billing':'LEAK'}");
    assert_data(&ev, &sub, "{'billingEventId':8,'externalId':null}");
    json_decref(ev.root);
    make_event(&ev, "billing.event_created", "{'billingEventId':8}");
    assert_data(&ev, &sub, "{'billingEventId':8,'externalId':null}");
    json_decref(ev.root);

    /* Other types never carry it. */
    make_event(&ev, "visit_report.approved",
               "{'visitReportId':7,'billing':{'amount':1}}");
    assert_data(&ev, &sub, "{'visitReportId':7,'externalId':null}");
    json_decref(ev.root);
}

/* The whole body with both data extras' neighbours: order of every key. */
/* A retry's body loses what the subscription no longer allows, and gains
 * nothing it newly allows. */
static void test_narrow(void **state)
{
    (void)state;
    subscription_t sub;
    const char *full = "{'eventId':'evt_1','data':{'billingEventId':8,"
                       "'billing':{'amount':1},'summaryPreview':'x'},"
                       "'customerContext':{'customer':{'name':'C'},"
                       "'location':{'name':'L'},'contact':{'phone':'P'}}}";
    struct {
        bool context, contact, billing, allowed, preview;
        const char *want;
    } cases[] = {
        {true, true, true, true, true,
         "{'eventId':'evt_1','data':{'billingEventId':8,'billing':{'amount':1},"
         "'summaryPreview':'x'},'customerContext':{'customer':{'name':'C'},"
         "'location':{'name':'L'},'contact':{'phone':'P'}}}"},
        {true, false, true, false, false,
         "{'eventId':'evt_1','data':{'billingEventId':8},'customerContext':"
         "{'customer':{'name':'C'},'location':{'name':'L'}}}"},
        {false, true, false, true, true,
         "{'eventId':'evt_1','data':{'billingEventId':8,'summaryPreview':'x'},"
         "'customerContext':{'contact':{'phone':'P'}}}"},
        {false, false, true, true, false,
         "{'eventId':'evt_1','data':{'billingEventId':8,'billing':{'amount':"
         "1}}}"},
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char *text = q(full);
        json_t *body = json_loads(text, 0, NULL);
        free(text);
        assert_non_null(body);
        make_sub(&sub);
        sub.include_customer_context = cases[i].context;
        sub.include_contact_details = cases[i].contact;
        sub.include_billing_details = cases[i].billing;
        sub.billing_allowed = cases[i].allowed;
        sub.include_summary_preview = cases[i].preview;
        render_narrow(body, &sub);
        char *got = json_dumps(body, JSON_COMPACT);
        char *want = q(cases[i].want);
        if (strcmp(got, want) != 0) {
            fail_msg("case %zu:\n got  %s\n want %s", i, got, want);
        }
        free(got);
        free(want);
        json_decref(body);
    }

    /* A body without data or customerContext objects is left alone. */
    json_t *odd = json_pack("{s:s, s:[]}", "eventId", "evt_1", "data");
    make_sub(&sub);
    sub.include_customer_context = false;
    render_narrow(odd, &sub);
    assert_int_equal(json_object_size(odd), 2);
    json_decref(odd);
}

static void test_billing_body(void **state)
{
    (void)state;
    event_t ev;
    subscription_t sub;
    struct records r;

    make_event(&ev, "billing.event_created",
               "{'billingEventId':8,'billing':{'billingCode':'SVC-01'}}");
    set_refs(&ev, true, false, false);
    make_sub(&sub);
    sub.include_billing_details = true;
    sub.billing_allowed = true;
    make_records(&r);

    char *got = render_string(&ev, &sub, &r.ctx);
    char *want = q(ENVELOPE("billing.event_created") "'data':{"
                                                     "'billingEventId':8,"
                                                     "'externalId':null,"
                                                     "'billing':{"
                                                     "'billingCode':"
                                                     "'SVC-01'}},"
                                                     "'customerContext':{"
                                                     "'customer':{"
                                                     "'ordinavoCustomerId':"
                                                     "12,'externalId':"
                                                     "'CUST-10042',"
                                                     "'customerNumber':"
                                                     "'RRM-001','name':"
                                                     "'Rhein-Ruhr Medical "
                                                     "Supply'}}}");
    assert_string_equal(got, want);
    free(got);
    free(want);
    free_records(&r);
    json_decref(ev.root);
}

static void test_context_options(void **state)
{
    (void)state;
    event_t ev;
    subscription_t sub;
    struct records r;
    static const char *const customer =
        "'customer':{'ordinavoCustomerId':12,'externalId':'CUST-10042',"
        "'customerNumber':'RRM-001','name':'Rhein-Ruhr Medical Supply'}";
    static const char *const location =
        "'location':{'ordinavoLocationId':34,'externalId':'LOC-ESSEN-01',"
        "'name':'Essen Center'}";
    static const char *const contact =
        "'contact':{'ordinavoContactId':56,'externalId':'CONT-44',"
        "'displayName':'Anna Weber','phone':'+49 201 555 0100',"
        "'email':'anna.weber@example.com'}";
    char want[1024];

    make_event(&ev, "appointment.completed", "{'appointmentId':2}");
    set_refs(&ev, true, true, true);
    make_sub(&sub);
    make_records(&r);

    snprintf(want, sizeof want, "{%s,%s,%s}", customer, location, contact);
    assert_context(&ev, &sub, &r.ctx, want);

    sub.include_contact_details = false;
    snprintf(want, sizeof want, "{%s,%s}", customer, location);
    assert_context(&ev, &sub, &r.ctx, want);

    sub.include_customer_context = false;
    assert_context(&ev, &sub, &r.ctx, NULL);

    sub.include_contact_details = true;
    snprintf(want, sizeof want, "{%s}", contact);
    assert_context(&ev, &sub, &r.ctx, want);

    free_records(&r);
    json_decref(ev.root);
}

/* A block needs a ref; without any, customerContext is left out. */
static void test_context_refs(void **state)
{
    (void)state;
    event_t ev;
    subscription_t sub;
    struct records r;

    make_event(&ev, "target.imported", "{'targetId':1}");
    make_sub(&sub);
    make_records(&r);

    assert_context(&ev, &sub, &r.ctx, NULL);

    set_refs(&ev, false, true, false);
    assert_context(&ev, &sub, &r.ctx,
                   "{'location':{'ordinavoLocationId':34,"
                   "'externalId':'LOC-ESSEN-01','name':'Essen Center'}}");

    set_refs(&ev, false, false, true);
    ev.contact.id = 9007199254740993;
    assert_context(&ev, &sub, &r.ctx,
                   "{'contact':{'ordinavoContactId':9007199254740993,"
                   "'externalId':'CONT-44','displayName':'Anna Weber',"
                   "'phone':'+49 201 555 0100',"
                   "'email':'anna.weber@example.com'}}");

    free_records(&r);
    json_decref(ev.root);
}

/* A missing Redis key: the block keeps the id, everything else null. */
static void test_context_cache_miss(void **state)
{
    (void)state;
    event_t ev;
    subscription_t sub;
    render_context_t none = {NULL, NULL, NULL};
    const char *nulls =
        "{'customer':{'ordinavoCustomerId':12,'externalId':null,"
        "'customerNumber':null,'name':null},"
        "'location':{'ordinavoLocationId':34,'externalId':null,"
        "'name':null},"
        "'contact':{'ordinavoContactId':56,'externalId':null,"
        "'displayName':null,'phone':null,'email':null}}";

    make_event(&ev, "appointment.completed", "{'appointmentId':2}");
    set_refs(&ev, true, true, true);
    make_sub(&sub);
    assert_context(&ev, &sub, &none, nulls);
    assert_context(&ev, &sub, NULL, nulls);

    /* One miss among hits; an empty record is a hit without fields. */
    json_t *empty = json_object();
    json_t *contact = load("{'displayName':'Anna Weber'}");
    render_context_t some = {NULL, empty, contact};
    assert_context(&ev, &sub, &some,
                   "{'customer':{'ordinavoCustomerId':12,'externalId':null,"
                   "'customerNumber':null,'name':null},"
                   "'location':{'ordinavoLocationId':34,'externalId':null,"
                   "'name':null},"
                   "'contact':{'ordinavoContactId':56,'externalId':null,"
                   "'displayName':'Anna Weber','phone':null,"
                   "'email':null}}");
    json_decref(empty);
    json_decref(contact);
    json_decref(ev.root);
}

/* externalId is the record's id for the subscription's source system. */
static void test_context_source_system(void **state)
{
    (void)state;
    event_t ev;
    subscription_t sub;
    struct records r;

    make_event(&ev, "appointment.completed", "{'appointmentId':2}");
    set_refs(&ev, true, true, true);
    make_sub(&sub);
    make_records(&r);

    sub.source_system = SYS_CRM;
    assert_context(&ev, &sub, &r.ctx,
                   "{'customer':{'ordinavoCustomerId':12,'externalId':'C-77',"
                   "'customerNumber':'RRM-001',"
                   "'name':'Rhein-Ruhr Medical Supply'},"
                   "'location':{'ordinavoLocationId':34,'externalId':null,"
                   "'name':'Essen Center'},"
                   "'contact':{'ordinavoContactId':56,'externalId':'P-9',"
                   "'displayName':'Anna Weber','phone':'+49 201 555 0100',"
                   "'email':'anna.weber@example.com'}}");

    /* A system no record knows, no system at all, an empty one. */
    char *no_ids_want =
        q("{'customer':{'ordinavoCustomerId':12,'externalId':null,"
          "'customerNumber':'RRM-001','name':'Rhein-Ruhr Medical Supply'},"
          "'location':{'ordinavoLocationId':34,'externalId':null,"
          "'name':'Essen Center'},"
          "'contact':{'ordinavoContactId':56,'externalId':null,"
          "'displayName':'Anna Weber','phone':'+49 201 555 0100',"
          "'email':'anna.weber@example.com'}}");
    char *const systems[] = {SYS_NONE, NULL, SYS_EMPTY};
    for (size_t i = 0; i < 3; i++) {
        sub.source_system = systems[i];
        assert_context(&ev, &sub, &r.ctx, no_ids_want);
    }
    free(no_ids_want);

    /* The subscription's system, not the event's, decides. */
    sub.source_system = SYS_ERP;
    ev.source_system = "crm";
    assert_context(&ev, &sub, &r.ctx,
                   "{'customer':{'ordinavoCustomerId':12,"
                   "'externalId':'CUST-10042','customerNumber':'RRM-001',"
                   "'name':'Rhein-Ruhr Medical Supply'},"
                   "'location':{'ordinavoLocationId':34,"
                   "'externalId':'LOC-ESSEN-01','name':'Essen Center'},"
                   "'contact':{'ordinavoContactId':56,'externalId':'CONT-44',"
                   "'displayName':'Anna Weber','phone':'+49 201 555 0100',"
                   "'email':'anna.weber@example.com'}}");

    free_records(&r);
    json_decref(ev.root);
}

/* customerNumber comes from the customer record only; record values that
 * are not strings are unknown. */
static void test_context_record_fields(void **state)
{
    (void)state;
    event_t ev;
    subscription_t sub;

    make_event(&ev, "target.imported",
               "{'targetId':1,'customerNumber':'LEAK'}");
    set_refs(&ev, true, true, false);
    make_sub(&sub);
    json_t *customer = load("{'name':7,'customerNumber':['LEAK'],"
                            "'externalId:logistics_erp':null}");
    json_t *location = load("{'name':'Depot','customerNumber':'LEAK',"
                            "'phone':'LEAK'}");
    render_context_t ctx = {customer, location, NULL};
    assert_context(&ev, &sub, &ctx,
                   "{'customer':{'ordinavoCustomerId':12,'externalId':null,"
                   "'customerNumber':null,'name':null},"
                   "'location':{'ordinavoLocationId':34,'externalId':null,"
                   "'name':'Depot'}}");
    assert_data(&ev, &sub, "{'targetId':1,'externalId':null}");
    json_decref(customer);
    json_decref(location);
    json_decref(ev.root);
}

/* Invalid UTF-8 from any source is repaired, never refused or passed on. */
static void test_invalid_utf8(void **state)
{
    (void)state;
    event_t ev;
    subscription_t sub;

    make_event(&ev, "target.updated", "{'targetId':1}");
    make_sub(&sub);
    ev.event_id = "evt_\xFF";
    ev.occurred_at = "2026\xC0\x80";
    json_object_set_new(ev.data, "externalId",
                        json_stringn_nocheck("DEL\xED\xA0\x80", 6));
    json_object_set_new(ev.data, "status", json_stringn_nocheck("a\0b", 3));
    json_t *changed = json_array();
    json_array_append_new(changed, json_stringn_nocheck("\xF4\x90\x80\x80", 4));
    json_object_set_new(ev.data, "changedFields", changed);
    set_refs(&ev, true, false, false);
    json_t *customer = json_object();
    json_object_set_new(customer, "name", json_stringn_nocheck("M\xFCller", 6));
    render_context_t ctx = {customer, NULL, NULL};

    char *got = render_string(&ev, &sub, &ctx);
    char *want = q("{'eventId':'evt_" FFFD "','eventType':'target.updated',"
                   "'eventVersion':'v1','tenantId':15,"
                   "'occurredAtUtc':'2026" FFFD FFFD "',"
                   "'deliveryId':'" DELIVERY_ID "','source':'ordinavo',"
                   "'data':{'targetId':1,'externalId':'DEL" FFFD FFFD FFFD
                   "','status':'a" FFFD "b',"
                   "'changedFields':['" FFFD FFFD FFFD FFFD "']},"
                   "'customerContext':{'customer':{'ordinavoCustomerId':12,"
                   "'externalId':null,'customerNumber':null,"
                   "'name':'M" FFFD "ller'}}}");
    assert_string_equal(got, want);
    free(got);
    free(want);
    json_decref(customer);
    json_decref(ev.root);
}

/* Calls render_context_record() on NUL-terminated field/value pairs. */
static json_t *record_from(const char *const *pairs, size_t n)
{
    const char *fields[16];
    const char *values[16];
    size_t flens[16];
    size_t vlens[16];

    assert_true(n <= 16);
    for (size_t i = 0; i < n; i++) {
        fields[i] = pairs[2 * i];
        flens[i] = strlen(fields[i]);
        values[i] = pairs[2 * i + 1];
        vlens[i] = strlen(values[i]);
    }
    return render_context_record(fields, flens, values, vlens, n);
}

static void test_context_record(void **state)
{
    (void)state;
    static const char *const pairs[] = {
        "internalNotes",
        "LEAK",
        "name",
        "Rhein-Ruhr Medical Supply",
        "customerNumber",
        "RRM-001",
        "externalId:logistics_erp",
        "CUST-10042",
        "externalId:",
        "LEAK",
        "externalid:crm",
        "LEAK",
        "externalId",
        "LEAK",
        "Name",
        "LEAK",
        "names",
        "LEAK",
        "displayName",
        "Anna",
        "phone",
        "+49",
        "email",
        "a@example.com",
        "accessCode",
        "LEAK",
        "externalId:crm",
        "C-77",
    };
    json_t *rec = record_from(pairs, sizeof pairs / sizeof pairs[0] / 2);
    assert_json(rec, "{'name':'Rhein-Ruhr Medical Supply',"
                     "'customerNumber':'RRM-001',"
                     "'externalId:logistics_erp':'CUST-10042',"
                     "'displayName':'Anna','phone':'+49',"
                     "'email':'a@example.com','externalId:crm':'C-77'}");
    json_decref(rec);

    rec = render_context_record(NULL, NULL, NULL, NULL, 0);
    assert_json(rec, "{}");
    json_decref(rec);
}

/* Lengths count, not NULs; values are repaired; an externalId name that is
 * not UTF-8 or holds a NUL can match no source system and is dropped. */
static void test_context_record_bytes(void **state)
{
    (void)state;
    const char *fields[] = {"name\0x", "name", "phone", "externalId:\xFF",
                            "externalId:erp\0"};
    size_t flens[] = {6, 4, 5, 12, 15};
    const char *values[] = {"LEAK", "M\xFCller\0!", "", "LEAK", "LEAK"};
    size_t vlens[] = {4, 8, 0, 4, 4};

    json_t *rec = render_context_record(fields, flens, values, vlens, 5);
    assert_non_null(rec);
    assert_int_equal(json_object_size(rec), 2);
    assert_string_equal(json_string_value(json_object_get(rec, "name")),
                        "M" FFFD "ller" FFFD "!");
    assert_string_equal(json_string_value(json_object_get(rec, "phone")), "");
    assert_null(json_object_getn(rec, "externalId:erp\0", 15));
    assert_null(json_object_get(rec, "externalId:erp"));
    json_decref(rec);
}

static void test_dump(void **state)
{
    (void)state;
    /* Compact, order kept, non-ASCII and "/" unescaped; reals as short as
     * reading them back exactly allows. */
    json_t *v = load("{'s':'\xC3\xA9\xE2\x82\xAC/','amount':24.68,"
                     "'unitPrice':12.34,'q':0.5,'one':1.0,'tiny':1e-7,"
                     "'n':100,'b':true,'z':null}");
    assert_json(v, "{'s':'\xC3\xA9\xE2\x82\xAC/','amount':24.68,"
                   "'unitPrice':12.34,'q':0.5,'one':1.0,'tiny':1e-7,"
                   "'n':100,'b':true,'z':null}");
    json_decref(v);

    /* jansson has one precision per dump: a real that needs 17 digits
     * makes every real of that body print with 17. No value changes. */
    v = load("[0.1,0.30000000000000004]");
    assert_json(v, "[0.10000000000000001,0.30000000000000004]");
    json_decref(v);

    v = load("{'n':1,'s':'x'}");
    assert_json(v, "{'n':1,'s':'x'}");
    json_decref(v);
}

/* Out-of-memory injection: jansson's allocator fails after a budget. */
static long alloc_budget = -1;

static void *failing_malloc(size_t size)
{
    if (alloc_budget == 0) {
        return NULL;
    }
    if (alloc_budget > 0) {
        alloc_budget--;
    }
    return malloc(size);
}

/* Every allocation of render_body() failing in turn: NULL, no leak, no
 * crash; with enough memory, the normal body. */
static void test_out_of_memory(void **state)
{
    (void)state;
    event_t ev;
    subscription_t sub;
    struct records r;

    make_event(&ev, "route.published",
               "{'routeId':77,'stops':[{'sequence':1,'externalId':'E',"
               "'internalNotes':'LEAK'}],'summary':'x'}");
    set_refs(&ev, true, true, true);
    make_sub(&sub);
    make_records(&r);
    char *want = render_string(&ev, &sub, &r.ctx);

    json_set_alloc_funcs(failing_malloc, free);
    bool succeeded = false;
    for (long budget = 0; budget < 1000 && !succeeded; budget++) {
        alloc_budget = budget;
        json_t *body = render_body(&ev, &sub, &r.ctx, DELIVERY_ID);
        if (body != NULL) {
            alloc_budget = -1;
            char *got = render_dump(body, NULL);
            assert_string_equal(got, want);
            free(got);
            json_decref(body);
            succeeded = true;
        }
    }
    alloc_budget = -1;
    assert_true(succeeded);

    static const char *const pairs[] = {"name", "N",     "externalId:a",
                                        "A",    "email", "E"};
    succeeded = false;
    for (long budget = 0; budget < 100 && !succeeded; budget++) {
        alloc_budget = budget;
        json_t *rec = record_from(pairs, 3);
        alloc_budget = -1;
        if (rec != NULL) {
            assert_int_equal(json_object_size(rec), 3);
            json_decref(rec);
            succeeded = true;
        }
    }
    assert_true(succeeded);
    json_set_alloc_funcs(malloc, free);

    free(want);
    free_records(&r);
    json_decref(ev.root);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_spec_example),
        cmocka_unit_test(test_data_order),
        cmocka_unit_test(test_missing_fields),
        cmocka_unit_test(test_scalar_types),
        cmocka_unit_test(test_validation_errors),
        cmocka_unit_test(test_stops),
        cmocka_unit_test(test_changed_fields),
        cmocka_unit_test(test_unknown_type),
        cmocka_unit_test(test_every_type),
        cmocka_unit_test(test_summary_preview),
        cmocka_unit_test(test_billing),
        cmocka_unit_test(test_billing_body),
        cmocka_unit_test(test_context_options),
        cmocka_unit_test(test_context_refs),
        cmocka_unit_test(test_context_cache_miss),
        cmocka_unit_test(test_context_source_system),
        cmocka_unit_test(test_context_record_fields),
        cmocka_unit_test(test_invalid_utf8),
        cmocka_unit_test(test_context_record),
        cmocka_unit_test(test_context_record_bytes),
        cmocka_unit_test(test_narrow),
        cmocka_unit_test(test_dump),
        cmocka_unit_test(test_out_of_memory),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
