#ifndef ORDINAVO_HEALTH_H
#define ORDINAVO_HEALTH_H

/*
 * The operations endpoint (libmicrohttpd, on its own thread):
 *   /healthz  200 while the worker loop keeps turning (liveness)
 *   /readyz   200 while the worker takes new events: Redis answers and it
 *             is not shutting down (readiness)
 *   /metrics  Prometheus text exposition
 */

#include <stddef.h>

typedef struct health health_t;

/* Starts serving on addr ("host:port"). Returns NULL with errstr set when
 * the address cannot be used. */
health_t *health_start(const char *addr, char *errstr, size_t errstr_size);

/* Stops the server and frees it. */
void health_stop(health_t *h);

#endif
