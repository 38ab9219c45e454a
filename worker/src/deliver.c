/* Concurrent webhook POSTs with libcurl multi; see deliver.h. */

#include "deliver.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "clock.h"
#include "hmap.h"
#include "metrics.h"

/* Requests to one subscription: those running and those waiting. */
typedef struct deliver_slot {
    char *key;
    int64_t running;
    int64_t queued;
    delivery_t *queue_head;
    delivery_t *queue_tail;
    /* On the list of slots with more waiting than their in-flight bound,
     * the only ones deliver_shed_stuck() has to look at. */
    bool on_long;
    struct deliver_slot *long_prev;
    struct deliver_slot *long_next;
    /* On the list of slots whose queue waits for the global bound alone
     * (fewer running than their own bound), in the order they joined. */
    bool on_ready;
    struct deliver_slot *ready_prev;
    struct deliver_slot *ready_next;
} deliver_slot_t;

struct deliver {
    const config_t *cfg;
    CURLM *multi;
    deliver_prepare_fn prepare;
    deliver_done_fn done;
    void *arg;
    hmap_t *slots; /* subscription id -> deliver_slot_t */
    CURL **pool;   /* idle easy handles, reused to keep allocations down */
    size_t n_pool;
    size_t cap_pool;
    size_t running;
    size_t queued;
    delivery_t *all_head; /* every pending delivery, in submission order */
    delivery_t *all_tail;
    deliver_slot_t *long_head;
    deliver_slot_t *ready_head;
    deliver_slot_t *ready_tail;
    /* Deliveries whose start failed before a request, finished from
     * deliver_run() so that no completion runs inside a start. */
    delivery_t *failed_head;
};

delivery_t *delivery_new(void)
{
    delivery_t *d = calloc(1, sizeof(*d));

    if (d != NULL) {
        d->retry_after_s = -1;
    }
    return d;
}

void delivery_free(delivery_t *d)
{
    if (d == NULL) {
        return;
    }
    free(d->url);
    free(d->body);
    curl_slist_free_all(d->headers);
    free(d->subscription_id);
    free(d);
}

static bool v4_is_private(uint32_t a)
{
    static const struct {
        uint32_t net;
        int bits;
    } ranges[] = {
        {0x00000000, 8},  /* "this network" */
        {0x0A000000, 8},  /* 10/8 private */
        {0x64400000, 10}, /* 100.64/10 shared (CGNAT; some metadata) */
        {0x7F000000, 8},  /* loopback */
        {0xA83F8110, 32}, /* 168.63.129.16, Azure's platform endpoint */
        {0xA9FE0000, 16}, /* link-local, 169.254.169.254 metadata */
        {0xAC100000, 12}, /* 172.16/12 private */
        {0xC0000000, 24}, /* IETF protocol assignments */
        {0xC0A80000, 16}, /* 192.168/16 private */
        {0xC6120000, 15}, /* benchmarking */
        {0xE0000000, 4},  /* multicast */
        {0xF0000000, 4},  /* reserved, broadcast */
    };

    for (size_t i = 0; i < sizeof(ranges) / sizeof(ranges[0]); i++) {
        uint32_t mask = 0xFFFFFFFFu << (32 - ranges[i].bits);
        if ((a & mask) == ranges[i].net) {
            return true;
        }
    }
    return false;
}

bool deliver_address_is_private(const struct sockaddr *sa)
{
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
        return v4_is_private(ntohl(in->sin_addr.s_addr));
    }
    if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;
        const uint8_t *b = in6->sin6_addr.s6_addr;
        static const uint8_t v4mapped[12] = {0, 0, 0, 0, 0,    0,
                                             0, 0, 0, 0, 0xFF, 0xFF};
        static const uint8_t nat64[12] = {0, 0x64, 0xFF, 0x9B, 0, 0,
                                          0, 0,    0,    0,    0, 0};
        static const uint8_t nat64_local[6] = {0, 0x64, 0xFF, 0x9B, 0, 1};
        static const uint8_t zero[12] = {0};

        /* Forms that carry an IPv4 address: the IPv4 rules apply to it. */
        if (memcmp(b, v4mapped, 12) == 0 || memcmp(b, nat64, 12) == 0) {
            return v4_is_private((uint32_t)b[12] << 24 | (uint32_t)b[13] << 16 |
                                 (uint32_t)b[14] << 8 | b[15]);
        }
        if (b[0] == 0x20 && b[1] == 0x02) { /* 2002::/16, 6to4 */
            return v4_is_private((uint32_t)b[2] << 24 | (uint32_t)b[3] << 16 |
                                 (uint32_t)b[4] << 8 | b[5]);
        }
        if (memcmp(b, zero, 12) == 0) {
            return true; /* ::, ::1 and the deprecated IPv4-compatible ::/96 */
        }
        if (memcmp(b, nat64_local, 6) == 0) {
            return true; /* 64:ff9b:1::/48, local-use NAT64 */
        }
        if (b[0] == 0x20 && b[1] == 0x01 &&
            ((b[2] & 0xFE) == 0 || (b[2] == 0x0D && b[3] == 0xB8))) {
            /* 2001::/23 IETF assignments (Teredo among them) and the
             * documentation prefix 2001:db8::/32. */
            return true;
        }
        return (b[0] & 0xFE) == 0xFC ||                   /* fc00::/7 unique */
               (b[0] == 0xFE && (b[1] & 0xC0) == 0x80) || /* fe80::/10 */
               b[0] == 0xFF;                              /* multicast */
    }
    return true; /* anything else (unix sockets...) is never a destination */
}

/* Checks the address curl is about to connect to: after DNS, so a name
 * that resolves to an internal address is caught too. */
static curl_socket_t open_socket(void *clientp, curlsocktype purpose,
                                 struct curl_sockaddr *address)
{
    delivery_t *d = clientp;

    (void)purpose;
    if (!d->allow_private && deliver_address_is_private(&address->addr)) {
        d->address_refused = true;
        return CURL_SOCKET_BAD;
    }
    /* A name may resolve to a refused address and an allowed one; curl
     * then goes on to the allowed one, and the outcome is that request's. */
    d->address_allowed = true;
    return socket(address->family, address->socktype, address->protocol);
}

static size_t keep_response(char *ptr, size_t size, size_t nmemb, void *ud)
{
    delivery_t *d = ud;
    size_t n = size * nmemb;
    size_t room = DELIVER_RESPONSE_MAX - d->response_len;

    if (n > room) {
        memcpy(d->response + d->response_len, ptr, room);
        d->response_len += room;
        d->response[d->response_len] = '\0';
        /* Stop reading: returning less than given ends the transfer. */
        d->response_truncated = true;
        return 0;
    }
    memcpy(d->response + d->response_len, ptr, n);
    d->response_len += n;
    d->response[d->response_len] = '\0';
    return n;
}

deliver_t *deliver_new(const config_t *cfg, deliver_prepare_fn prepare,
                       deliver_done_fn done, void *arg, char *errstr,
                       size_t errstr_size)
{
    deliver_t *dl = calloc(1, sizeof(*dl));

    if (dl == NULL) {
        snprintf(errstr, errstr_size, "out of memory");
        return NULL;
    }
    dl->cfg = cfg;
    dl->prepare = prepare;
    dl->done = done;
    dl->arg = arg;
    dl->multi = curl_multi_init();
    dl->slots = hmap_new(SIZE_MAX, NULL);
    if (dl->multi == NULL || dl->slots == NULL) {
        snprintf(errstr, errstr_size, "cannot initialise libcurl");
        deliver_free(dl);
        return NULL;
    }
    /* Keep an idle connection per concurrent request for reuse. */
    curl_multi_setopt(dl->multi, CURLMOPT_MAXCONNECTS, (long)cfg->max_inflight);
    curl_multi_setopt(dl->multi, CURLMOPT_PIPELINING, CURLPIPE_MULTIPLEX);
    return dl;
}

static CURL *take_easy(deliver_t *dl)
{
    if (dl->n_pool > 0) {
        CURL *e = dl->pool[--dl->n_pool];
        curl_easy_reset(e);
        return e;
    }
    return curl_easy_init();
}

static void give_easy(deliver_t *dl, CURL *e)
{
    if (dl->n_pool == dl->cap_pool) {
        size_t cap = dl->cap_pool ? dl->cap_pool * 2 : 64;
        CURL **grown = realloc(dl->pool, cap * sizeof(CURL *));
        if (grown == NULL) {
            curl_easy_cleanup(e);
            return;
        }
        dl->pool = grown;
        dl->cap_pool = cap;
    }
    dl->pool[dl->n_pool++] = e;
}

static void finish(deliver_t *dl, delivery_t *d);

static void unlink_all(deliver_t *dl, delivery_t *d)
{
    if (d->prev_all != NULL) {
        d->prev_all->next_all = d->next_all;
    } else {
        dl->all_head = d->next_all;
    }
    if (d->next_all != NULL) {
        d->next_all->prev_all = d->prev_all;
    } else {
        dl->all_tail = d->prev_all;
    }
    d->prev_all = d->next_all = NULL;
}

/* Counts d as running and sets it aside to be finished by the next
 * deliver_run(), with d->result and d->error saying why. */
static void fail_start(deliver_t *dl, delivery_t *d)
{
    d->next = dl->failed_head;
    dl->failed_head = d;
}

/* Configures and adds the transfer. Never completes anything itself: a
 * setup failure is finished later by deliver_run(). */
static void start(deliver_t *dl, delivery_t *d)
{
    const config_t *cfg = dl->cfg;
    CURL *e = take_easy(dl);

    d->slot->running++;
    dl->running++;
    d->easy = e;
    d->allow_private = cfg->allow_private_destinations;
    if (e == NULL) {
        d->result = CURLE_OUT_OF_MEMORY;
        snprintf(d->error, sizeof(d->error), "out of memory");
        fail_start(dl, d);
        return;
    }
    if (dl->prepare(d, dl->arg) != 0) {
        d->result = CURLE_ABORTED_BY_CALLBACK;
        fail_start(dl, d);
        return;
    }
    curl_easy_setopt(e, CURLOPT_URL, d->url);
    curl_easy_setopt(e, CURLOPT_PRIVATE, d);
    curl_easy_setopt(e, CURLOPT_POST, 1L);
    curl_easy_setopt(e, CURLOPT_POSTFIELDS, d->body);
    curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)d->body_len);
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, d->headers);
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR,
                     cfg->allow_http ? "http,https" : "https");
    curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
    /* An environment proxy would hide the address really connected. */
    curl_easy_setopt(e, CURLOPT_PROXY, "");
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS,
                     (long)cfg->connect_timeout_ms);
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)cfg->request_timeout_ms);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_2TLS);
    /* Waiting for a connection to tell whether it can multiplex is only
     * quick over TLS, where ALPN answers in the handshake. Over cleartext
     * the answer comes with the first response, so a slow endpoint would
     * hold every other request to its host behind it. */
    curl_easy_setopt(e, CURLOPT_PIPEWAIT,
                     strncasecmp(d->url, "https://", 8) == 0 ? 1L : 0L);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, keep_response);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, d);
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, d->error);
    curl_easy_setopt(e, CURLOPT_OPENSOCKETFUNCTION, open_socket);
    curl_easy_setopt(e, CURLOPT_OPENSOCKETDATA, d);
    curl_easy_setopt(e, CURLOPT_TCP_NODELAY, 1L);
    curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);

    CURLMcode mc = curl_multi_add_handle(dl->multi, e);
    if (mc != CURLM_OK) {
        d->result = CURLE_FAILED_INIT;
        snprintf(d->error, sizeof(d->error), "%s", curl_multi_strerror(mc));
        fail_start(dl, d);
    }
}

static deliver_slot_t *slot_for(deliver_t *dl, const char *key)
{
    void *v;
    deliver_slot_t *s;

    if (hmap_get(dl->slots, key, 0, &v)) {
        return v;
    }
    s = calloc(1, sizeof(*s));
    if (s == NULL || (s->key = strdup(key)) == NULL) {
        free(s);
        return NULL;
    }
    if (hmap_put(dl->slots, key, s, 0, INT64_MAX) != 0) {
        free(s->key);
        free(s);
        return NULL;
    }
    return s;
}

static void slot_release_if_idle(deliver_t *dl, deliver_slot_t *s)
{
    /* An idle slot is on neither list: both need a non-empty queue. */
    if (s->running == 0 && s->queue_head == NULL) {
        char *key = s->key;
        hmap_del(dl->slots, key);
        free(key);
        free(s);
    }
}

/* Keeps s on the long list exactly while more wait than may run. */
static void slot_track_long(deliver_t *dl, deliver_slot_t *s)
{
    bool is_long = s->queued > dl->cfg->max_inflight_per_subscription;

    if (is_long == s->on_long) {
        return;
    }
    if (is_long) {
        s->long_prev = NULL;
        s->long_next = dl->long_head;
        if (dl->long_head != NULL) {
            dl->long_head->long_prev = s;
        }
        dl->long_head = s;
    } else {
        if (s->long_prev != NULL) {
            s->long_prev->long_next = s->long_next;
        } else {
            dl->long_head = s->long_next;
        }
        if (s->long_next != NULL) {
            s->long_next->long_prev = s->long_prev;
        }
        s->long_prev = s->long_next = NULL;
    }
    s->on_long = is_long;
}

/* Keeps s on the ready list exactly while its queue could start were it
 * not for the global bound. */
static void slot_track_ready(deliver_t *dl, deliver_slot_t *s)
{
    bool is_ready = s->queue_head != NULL &&
                    s->running < dl->cfg->max_inflight_per_subscription;

    if (is_ready == s->on_ready) {
        return;
    }
    if (is_ready) {
        s->ready_next = NULL;
        s->ready_prev = dl->ready_tail;
        if (dl->ready_tail != NULL) {
            dl->ready_tail->ready_next = s;
        } else {
            dl->ready_head = s;
        }
        dl->ready_tail = s;
    } else {
        if (s->ready_prev != NULL) {
            s->ready_prev->ready_next = s->ready_next;
        } else {
            dl->ready_head = s->ready_next;
        }
        if (s->ready_next != NULL) {
            s->ready_next->ready_prev = s->ready_prev;
        } else {
            dl->ready_tail = s->ready_prev;
        }
        s->ready_prev = s->ready_next = NULL;
    }
    s->on_ready = is_ready;
}

/* The lists a slot is on follow its counts; call after changing them. */
static void slot_track(deliver_t *dl, deliver_slot_t *s)
{
    slot_track_long(dl, s);
    slot_track_ready(dl, s);
}

/* At its bound of waiting deliveries, and the oldest has not moved for
 * WEBHOOKD_MAX_QUEUE_WAIT: the endpoint is slower than its traffic. */
static bool slot_stuck(const deliver_t *dl, const deliver_slot_t *s,
                       int64_t now_ms)
{
    return s->queue_head != NULL &&
           s->queued >= dl->cfg->max_inflight_per_subscription &&
           now_ms - s->queue_head->queued_ms >= dl->cfg->max_queue_wait_ms;
}

static bool can_start(const deliver_t *dl, const deliver_slot_t *s)
{
    return dl->running < (size_t)dl->cfg->max_inflight &&
           s->running < dl->cfg->max_inflight_per_subscription;
}

void deliver_submit(deliver_t *dl, delivery_t *d)
{
    deliver_slot_t *s = slot_for(dl, d->subscription_id);

    if (s == NULL) {
        d->result = CURLE_OUT_OF_MEMORY;
        snprintf(d->error, sizeof(d->error), "out of memory");
        dl->done(d, dl->arg);
        return;
    }
    d->slot = s;
    d->prev_all = dl->all_tail;
    d->next_all = NULL;
    if (dl->all_tail != NULL) {
        dl->all_tail->next_all = d;
    } else {
        dl->all_head = d;
    }
    dl->all_tail = d;
    if (s->queue_head == NULL && can_start(dl, s)) {
        start(dl, d);
        return;
    }
    /* Wait behind the subscription's earlier deliveries. */
    d->next = NULL;
    d->queued_ms = clock_mono_ms();
    if (s->queue_tail != NULL) {
        s->queue_tail->next = d;
    } else {
        s->queue_head = d;
    }
    s->queue_tail = d;
    s->queued++;
    dl->queued++;
    slot_track(dl, s);
    metrics_set(G_QUEUED, (int64_t)dl->queued);
}

/* Starts queued deliveries of slot s while the bounds allow. */
static void start_queued(deliver_t *dl, deliver_slot_t *s)
{
    while (s->queue_head != NULL && can_start(dl, s)) {
        delivery_t *d = s->queue_head;
        s->queue_head = d->next;
        if (s->queue_head == NULL) {
            s->queue_tail = NULL;
        }
        d->next = NULL;
        s->queued--;
        dl->queued--;
        start(dl, d);
    }
    slot_track(dl, s);
    metrics_set(G_QUEUED, (int64_t)dl->queued);
}

/* After the global bound freed places: start the queues that waited for
 * it alone, longest waiting first. */
static void start_ready(deliver_t *dl)
{
    while (dl->ready_head != NULL &&
           dl->running < (size_t)dl->cfg->max_inflight) {
        start_queued(dl, dl->ready_head);
    }
}

bool deliver_has_room(deliver_t *dl, const char *key, int64_t now_ms)
{
    void *v;

    if (!hmap_get(dl->slots, key, 0, &v)) {
        return true;
    }
    return !slot_stuck(dl, v, now_ms);
}

/* Cuts s's queue after its first `keep` deliveries and returns the rest as
 * a list linked through next, oldest first. */
static delivery_t *cut_queue(deliver_t *dl, deliver_slot_t *s, int64_t keep)
{
    delivery_t *last = s->queue_head;
    delivery_t *rest;
    int64_t n = 0;

    for (int64_t i = 1; i < keep; i++) {
        last = last->next;
    }
    rest = last->next;
    last->next = NULL;
    s->queue_tail = last;
    for (delivery_t *d = rest; d != NULL; d = d->next) {
        n++;
    }
    s->queued -= n;
    dl->queued -= (size_t)n;
    return rest;
}

size_t deliver_shed_stuck(deliver_t *dl, int64_t now_ms)
{
    delivery_t *shed = NULL;
    deliver_slot_t *s = dl->long_head;
    size_t n = 0;

    /* Collect first and run the callbacks after: they may submit. */
    while (s != NULL) {
        deliver_slot_t *next = s->long_next;
        if (slot_stuck(dl, s, now_ms)) {
            delivery_t *rest =
                cut_queue(dl, s, dl->cfg->max_inflight_per_subscription);
            delivery_t *tail = rest;
            while (tail->next != NULL) {
                tail = tail->next;
            }
            tail->next = shed;
            shed = rest;
            slot_track(dl, s);
        }
        s = next;
    }
    while (shed != NULL) {
        delivery_t *d = shed;
        shed = d->next;
        d->next = NULL;
        unlink_all(dl, d);
        d->slot = NULL;
        d->shed = true;
        d->result = CURLE_ABORTED_BY_CALLBACK;
        snprintf(d->error, sizeof(d->error), "subscription backlog full");
        dl->done(d, dl->arg);
        n++;
    }
    if (n > 0) {
        metrics_set(G_QUEUED, (int64_t)dl->queued);
    }
    return n;
}

size_t deliver_pending(const deliver_t *dl)
{
    return dl->running + dl->queued;
}

static int64_t parse_retry_after(CURL *e)
{
    struct curl_header *h = NULL;
    char *end;

    if (curl_easy_header(e, "Retry-After", 0, CURLH_HEADER, -1, &h) !=
            CURLHE_OK ||
        h == NULL) {
        return -1;
    }
    long long secs = strtoll(h->value, &end, 10);
    if (end != h->value && *end == '\0') {
        return secs >= 0 ? secs : -1;
    }
    time_t when = curl_getdate(h->value, NULL);
    if (when < 0) {
        return -1;
    }
    time_t now = time(NULL);
    return when > now ? (int64_t)(when - now) : 0;
}

/* Collects the results, frees the slot place and runs the callback. */
static void finish(deliver_t *dl, delivery_t *d)
{
    deliver_slot_t *s = d->slot;
    CURL *e = d->easy;

    if (e != NULL) {
        curl_off_t total_us = 0;
        curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &d->http_status);
        curl_easy_getinfo(e, CURLINFO_TOTAL_TIME_T, &total_us);
        d->latency_ms = (int64_t)(total_us / 1000);
        if (d->http_status != 0) {
            d->retry_after_s = parse_retry_after(e);
        }
        /* A response body cut short on purpose is still a response. */
        if (d->result == CURLE_WRITE_ERROR && d->response_truncated) {
            d->result = CURLE_OK;
        }
        if (d->result != CURLE_OK && d->error[0] == '\0') {
            snprintf(d->error, sizeof(d->error), "%s",
                     curl_easy_strerror(d->result));
        }
        d->refused_destination = d->address_refused && !d->address_allowed;
        if (d->refused_destination) {
            snprintf(d->error, sizeof(d->error),
                     "destination address not allowed (loopback, private, "
                     "link-local or metadata)");
        }
        curl_multi_remove_handle(dl->multi, e);
        give_easy(dl, e);
        d->easy = NULL;
    }
    s->running--;
    dl->running--;
    d->slot = NULL;
    unlink_all(dl, d);
    start_queued(dl, s);
    start_ready(dl);
    slot_release_if_idle(dl, s);
    metrics_set(G_INFLIGHT, (int64_t)dl->running);
    dl->done(d, dl->arg);
}

/* Finishes the deliveries whose start failed. Returns how many. */
static int finish_failed(deliver_t *dl)
{
    int n = 0;

    while (dl->failed_head != NULL) {
        delivery_t *d = dl->failed_head;
        dl->failed_head = d->next;
        d->next = NULL;
        finish(dl, d);
        n++;
    }
    return n;
}

static int read_completions(deliver_t *dl)
{
    CURLMsg *msg;
    int left;
    int n = 0;

    while ((msg = curl_multi_info_read(dl->multi, &left)) != NULL) {
        delivery_t *d = NULL;
        if (msg->msg != CURLMSG_DONE) {
            continue;
        }
        curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&d);
        d->result = msg->data.result;
        d->timed_out = d->result == CURLE_OPERATION_TIMEDOUT;
        finish(dl, d);
        n++;
    }
    return n;
}

int deliver_run(deliver_t *dl, struct curl_waitfd *extra, unsigned n_extra,
                int timeout_ms)
{
    int still;
    int n;

    n = finish_failed(dl);
    curl_multi_perform(dl->multi, &still);
    n += read_completions(dl);
    if (n > 0 || dl->failed_head != NULL) {
        timeout_ms = 0;
    }
    curl_multi_poll(dl->multi, extra, n_extra, timeout_ms, NULL);
    curl_multi_perform(dl->multi, &still);
    metrics_set(G_INFLIGHT, (int64_t)dl->running);
    return n + read_completions(dl);
}

void deliver_abort_all(deliver_t *dl)
{
    /* Failed starts end with their own error. Then the queued ones, so no
     * abort of a running one starts another. The list is in submission
     * order, as is each slot's queue, so a queued delivery met here is
     * always the head of its slot's queue; what is left has a transfer. */
    while (dl->failed_head != NULL) {
        finish_failed(dl);
    }
    for (int pass = 0; pass < 2; pass++) {
        delivery_t *d = dl->all_head;
        while (d != NULL) {
            delivery_t *next = d->next_all;
            deliver_slot_t *s = d->slot;

            if (pass == 0 && d->easy == NULL) {
                s->queue_head = d->next;
                if (s->queue_head == NULL) {
                    s->queue_tail = NULL;
                }
                s->queued--;
                dl->queued--;
                slot_track(dl, s);
                d->never_sent = true;
            } else if (pass == 1) {
                curl_multi_remove_handle(dl->multi, d->easy);
                give_easy(dl, d->easy);
                d->easy = NULL;
                s->running--;
                dl->running--;
                slot_track(dl, s);
            } else {
                d = next;
                continue;
            }
            unlink_all(dl, d);
            d->slot = NULL;
            d->aborted = true;
            d->result = CURLE_ABORTED_BY_CALLBACK;
            snprintf(d->error, sizeof(d->error), "abandoned at shutdown");
            slot_release_if_idle(dl, s);
            dl->done(d, dl->arg);
            d = next;
        }
    }
    metrics_set(G_INFLIGHT, 0);
    metrics_set(G_QUEUED, 0);
}

void deliver_free(deliver_t *dl)
{
    if (dl == NULL) {
        return;
    }
    deliver_abort_all(dl);
    for (size_t i = 0; i < dl->n_pool; i++) {
        curl_easy_cleanup(dl->pool[i]);
    }
    free(dl->pool);
    if (dl->multi != NULL) {
        curl_multi_cleanup(dl->multi);
    }
    hmap_free(dl->slots);
    free(dl);
}
