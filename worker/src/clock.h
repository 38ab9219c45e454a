#ifndef ORDINAVO_CLOCK_H
#define ORDINAVO_CLOCK_H

/* Time sources: monotonic for timeouts and cache ages, wall-clock for what
 * is shown to people and receivers. */

#include <stdint.h>
#include <time.h>

/* Milliseconds on the monotonic clock (only differences mean anything). */
static inline int64_t clock_mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Milliseconds since the Unix epoch. */
static inline int64_t clock_wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

#endif
