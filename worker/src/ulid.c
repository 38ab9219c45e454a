/*
 * ULIDs: 48 bits of Unix milliseconds then 80 random bits, written as 26
 * characters of Crockford's base32, so that ids sort by creation time.
 */

#include "ulid.h"

#include <string.h>
#include <time.h>

#include <openssl/rand.h>

#define ULID_TIME_CHARS 10
#define ULID_RANDOM_LEN 10

static const char ulid_alphabet[] = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";

void ulid_encode(uint64_t ms, const unsigned char rnd[10],
                 char out[ULID_LEN + 1])
{
    uint32_t acc = 0;
    unsigned bits = 0;
    size_t pos = ULID_TIME_CHARS;
    size_t i;

    /* Ten characters hold 50 bits; the top two stay zero for a 48-bit time. */
    ms &= (UINT64_C(1) << 48) - 1;
    for (i = ULID_TIME_CHARS; i > 0; i--) {
        out[i - 1] = ulid_alphabet[ms & 31];
        ms >>= 5;
    }

    /* 80 random bits are exactly 16 characters, most significant first. */
    for (i = 0; i < ULID_RANDOM_LEN; i++) {
        acc = ((acc << 8) | rnd[i]) & 0xfff;
        bits += 8;
        while (bits >= 5) {
            bits -= 5;
            out[pos++] = ulid_alphabet[(acc >> bits) & 31];
        }
    }
    out[ULID_LEN] = '\0';
}

int ulid_make(const char *prefix, char *out, size_t out_size)
{
    unsigned char rnd[ULID_RANDOM_LEN];
    struct timespec now;
    size_t prefix_len = prefix != NULL ? strlen(prefix) : 0;
    uint64_t ms;

    if (out == NULL || out_size < prefix_len + ULID_LEN + 1) {
        return -1;
    }
    if (clock_gettime(CLOCK_REALTIME, &now) != 0 ||
        RAND_bytes(rnd, (int)sizeof(rnd)) != 1) {
        return -1;
    }
    ms = (uint64_t)now.tv_sec * 1000 + (uint64_t)now.tv_nsec / 1000000;

    if (prefix_len > 0) {
        memcpy(out, prefix, prefix_len);
    }
    ulid_encode(ms, rnd, out + prefix_len);
    return 0;
}
