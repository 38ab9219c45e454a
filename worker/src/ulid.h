#ifndef ORDINAVO_ULID_H
#define ORDINAVO_ULID_H

/* ULIDs (26 Crockford base32 characters: 48-bit milliseconds, 80 random
 * bits) for deliveryIds. */

#include <stddef.h>
#include <stdint.h>

#define ULID_LEN 26

/* Writes prefix followed by a new ULID and a NUL into out. Returns 0, or -1
 * when out is too small or the random source fails. */
int ulid_make(const char *prefix, char *out, size_t out_size);

/* The same with a given time and randomness, for tests. */
void ulid_encode(uint64_t ms, const unsigned char rnd[10],
                 char out[ULID_LEN + 1]);

#endif
