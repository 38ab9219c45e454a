/* Health, readiness and metrics over HTTP; see health.h. */

#include "health.h"

#include <microhttpd.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "clock.h"
#include "metrics.h"

/* The loop turns at least every 100 ms; a much older turn means it hangs. */
#define LIVENESS_LIMIT_MS 30000

struct health {
    struct MHD_Daemon *daemon;
};

static enum MHD_Result reply(struct MHD_Connection *conn, unsigned status,
                             const char *type, char *body, size_t len,
                             enum MHD_ResponseMemoryMode mode)
{
    struct MHD_Response *r = MHD_create_response_from_buffer(len, body, mode);
    enum MHD_Result ret;

    if (r == NULL) {
        return MHD_NO;
    }
    MHD_add_response_header(r, "Content-Type", type);
    ret = MHD_queue_response(conn, status, r);
    MHD_destroy_response(r);
    return ret;
}

static enum MHD_Result text(struct MHD_Connection *conn, unsigned status,
                            const char *body)
{
    return reply(conn, status, "text/plain; charset=utf-8", (char *)body,
                 strlen(body), MHD_RESPMEM_PERSISTENT);
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *conn,
                              const char *url, const char *method,
                              const char *version, const char *upload,
                              size_t *upload_size, void **state)
{
    (void)cls;
    (void)version;
    (void)upload;
    (void)upload_size;
    (void)state;

    if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0) {
        return text(conn, MHD_HTTP_METHOD_NOT_ALLOWED, "method not allowed\n");
    }
    if (strcmp(url, "/healthz") == 0) {
        int64_t age = clock_wall_ms() - metrics_get(G_LAST_LOOP_MS);
        return age < LIVENESS_LIMIT_MS
                   ? text(conn, MHD_HTTP_OK, "ok\n")
                   : text(conn, MHD_HTTP_SERVICE_UNAVAILABLE,
                          "worker loop stalled\n");
    }
    if (strcmp(url, "/readyz") == 0) {
        if (metrics_get(G_READY)) {
            return text(conn, MHD_HTTP_OK, "ready\n");
        }
        return text(conn, MHD_HTTP_SERVICE_UNAVAILABLE,
                    metrics_get(G_REDIS_UP) ? "not ready\n"
                                            : "not ready: redis unavailable\n");
    }
    if (strcmp(url, "/metrics") == 0) {
        size_t len = 0;
        char *body = metrics_render(&len);
        if (body == NULL) {
            return text(conn, MHD_HTTP_INTERNAL_SERVER_ERROR,
                        "out of memory\n");
        }
        return reply(conn, MHD_HTTP_OK, "text/plain; version=0.0.4", body, len,
                     MHD_RESPMEM_MUST_FREE);
    }
    return text(conn, MHD_HTTP_NOT_FOUND, "not found\n");
}

health_t *health_start(const char *addr, char *errstr, size_t errstr_size)
{
    struct addrinfo hints = {0};
    struct addrinfo *ai = NULL;
    health_t *h = NULL;
    const char *colon = strrchr(addr, ':');
    char host[256];

    snprintf(host, sizeof(host), "%.*s", (int)(colon - addr), addr);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    int gai = getaddrinfo(*host != '\0' ? host : NULL, colon + 1, &hints, &ai);
    if (gai != 0) {
        snprintf(errstr, errstr_size, "WEBHOOKD_HTTP_ADDR: %s",
                 gai_strerror(gai));
        return NULL;
    }
    h = calloc(1, sizeof(*h));
    if (h != NULL) {
        unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_AUTO;
        if (ai->ai_family == AF_INET6) {
            flags |= MHD_USE_IPv6;
        }
        h->daemon = MHD_start_daemon(
            flags, 0, NULL, NULL, handle, NULL, MHD_OPTION_SOCK_ADDR,
            ai->ai_addr, MHD_OPTION_CONNECTION_LIMIT, 64u,
            MHD_OPTION_CONNECTION_TIMEOUT, 10u, MHD_OPTION_END);
    }
    freeaddrinfo(ai);
    if (h == NULL || h->daemon == NULL) {
        snprintf(errstr, errstr_size,
                 "WEBHOOKD_HTTP_ADDR: cannot listen on %s (in use?)", addr);
        free(h);
        return NULL;
    }
    return h;
}

void health_stop(health_t *h)
{
    if (h == NULL) {
        return;
    }
    MHD_stop_daemon(h->daemon);
    free(h);
}
