#ifndef ORDINAVO_HMAP_H
#define ORDINAVO_HMAP_H

/*
 * A string-keyed hash map whose entries expire, used for the in-memory
 * caches. The map owns its keys and, through the free function given at
 * creation, its values. It holds at most max_entries: when full, expired
 * entries go first and, if none has expired, the whole map is emptied
 * (cheap, and a cache refills itself).
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct hmap hmap_t;
typedef void (*hmap_free_fn)(void *value);

/* A new map, or NULL when out of memory. free_value may be NULL. */
hmap_t *hmap_new(size_t max_entries, hmap_free_fn free_value);

/* Frees the map, its keys and its values. */
void hmap_free(hmap_t *m);

/* True when key has an entry that expires after now_ms; *value is then the
 * stored value (borrowed; it may be NULL). An expired entry is removed. */
bool hmap_get(hmap_t *m, const char *key, int64_t now_ms, void **value);

/* Stores value under key until expires_ms, replacing (and freeing) an older
 * value; now_ms tells which entries may be evicted when the map is full.
 * Takes ownership of value even when it fails. Returns 0, or -1 when out of
 * memory. */
int hmap_put(hmap_t *m, const char *key, void *value, int64_t now_ms,
             int64_t expires_ms);

/* Removes key's entry, if any. */
void hmap_del(hmap_t *m, const char *key);

/* Removes every entry. */
void hmap_clear(hmap_t *m);

/* Number of entries, expired ones included. */
size_t hmap_size(const hmap_t *m);

#endif
