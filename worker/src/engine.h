#ifndef ORDINAVO_ENGINE_H
#define ORDINAVO_ENGINE_H

/*
 * The worker: one thread that consumes domain events from Kafka, matches
 * them to subscriptions, enriches and renders them, hands the POSTs to the
 * delivery engine, and moves the commit positions as deliveries finish.
 */

#include <signal.h>
#include <stddef.h>

#include "config.h"

typedef struct engine engine_t;

/* Creates the Kafka consumer, the Redis cache and the HTTP engine for cfg
 * (borrowed). Returns NULL with errstr set when something cannot start. */
engine_t *engine_new(const config_t *cfg, char *errstr, size_t errstr_size);

/*
 * Runs until *stop becomes non-zero, then stops consuming, lets in-flight
 * deliveries finish within the shutdown grace, commits and leaves the group.
 * Returns the process exit status (0 after a clean stop).
 */
int engine_run(engine_t *e, volatile sig_atomic_t *stop);

/* Frees what engine_new() created. */
void engine_free(engine_t *e);

#endif
