/* Expiring string-keyed hash map; see hmap.h. */

#include "hmap.h"

#include <stdlib.h>
#include <string.h>

typedef struct entry {
    struct entry *next;
    uint64_t hash;
    int64_t expires_ms;
    void *value;
    char key[]; /* NUL-terminated */
} entry_t;

struct hmap {
    entry_t **buckets;
    size_t n_buckets; /* a power of two */
    size_t size;
    size_t max_entries;
    hmap_free_fn free_value;
};

static uint64_t hash_key(const char *key)
{
    uint64_t h = 1469598103934665603ULL; /* FNV-1a, 64 bit */
    for (const unsigned char *p = (const unsigned char *)key; *p; p++) {
        h = (h ^ *p) * 1099511628211ULL;
    }
    return h;
}

hmap_t *hmap_new(size_t max_entries, hmap_free_fn free_value)
{
    hmap_t *m = calloc(1, sizeof(*m));

    if (m == NULL) {
        return NULL;
    }
    m->n_buckets = 64;
    m->buckets = calloc(m->n_buckets, sizeof(entry_t *));
    if (m->buckets == NULL) {
        free(m);
        return NULL;
    }
    m->max_entries = max_entries;
    m->free_value = free_value;
    return m;
}

static void entry_free(hmap_t *m, entry_t *e)
{
    if (m->free_value != NULL && e->value != NULL) {
        m->free_value(e->value);
    }
    free(e);
}

void hmap_clear(hmap_t *m)
{
    for (size_t i = 0; i < m->n_buckets; i++) {
        entry_t *e = m->buckets[i];
        while (e != NULL) {
            entry_t *next = e->next;
            entry_free(m, e);
            e = next;
        }
        m->buckets[i] = NULL;
    }
    m->size = 0;
}

void hmap_free(hmap_t *m)
{
    if (m == NULL) {
        return;
    }
    hmap_clear(m);
    free(m->buckets);
    free(m);
}

static entry_t **find(hmap_t *m, const char *key, uint64_t h)
{
    entry_t **pe = &m->buckets[h & (m->n_buckets - 1)];

    while (*pe != NULL && ((*pe)->hash != h || strcmp((*pe)->key, key) != 0)) {
        pe = &(*pe)->next;
    }
    return pe;
}

static void unlink_entry(hmap_t *m, entry_t **pe)
{
    entry_t *e = *pe;
    *pe = e->next;
    m->size--;
    entry_free(m, e);
}

bool hmap_get(hmap_t *m, const char *key, int64_t now_ms, void **value)
{
    entry_t **pe = find(m, key, hash_key(key));

    if (*pe == NULL) {
        return false;
    }
    if ((*pe)->expires_ms <= now_ms) {
        unlink_entry(m, pe);
        return false;
    }
    *value = (*pe)->value;
    return true;
}

/* Drops every entry expired at now_ms. Returns how many went. */
static size_t evict_expired(hmap_t *m, int64_t now_ms)
{
    size_t before = m->size;

    for (size_t i = 0; i < m->n_buckets; i++) {
        entry_t **pe = &m->buckets[i];
        while (*pe != NULL) {
            if ((*pe)->expires_ms <= now_ms) {
                unlink_entry(m, pe);
            } else {
                pe = &(*pe)->next;
            }
        }
    }
    return before - m->size;
}

static void grow(hmap_t *m)
{
    size_t n = m->n_buckets * 2;
    entry_t **b = calloc(n, sizeof(entry_t *));

    if (b == NULL) {
        return; /* stay at the current size; lookups still work */
    }
    for (size_t i = 0; i < m->n_buckets; i++) {
        entry_t *e = m->buckets[i];
        while (e != NULL) {
            entry_t *next = e->next;
            e->next = b[e->hash & (n - 1)];
            b[e->hash & (n - 1)] = e;
            e = next;
        }
    }
    free(m->buckets);
    m->buckets = b;
    m->n_buckets = n;
}

int hmap_put(hmap_t *m, const char *key, void *value, int64_t now_ms,
             int64_t expires_ms)
{
    uint64_t h = hash_key(key);
    entry_t **pe = find(m, key, h);
    size_t klen = strlen(key);
    entry_t *e;

    if (*pe != NULL) {
        unlink_entry(m, pe);
    }
    if (m->size >= m->max_entries) {
        if (evict_expired(m, now_ms) == 0) {
            hmap_clear(m);
        }
    }
    e = malloc(sizeof(*e) + klen + 1);
    if (e == NULL) {
        if (m->free_value != NULL && value != NULL) {
            m->free_value(value);
        }
        return -1;
    }
    memcpy(e->key, key, klen + 1);
    e->hash = h;
    e->expires_ms = expires_ms;
    e->value = value;
    if (m->size >= m->n_buckets) {
        grow(m);
    }
    pe = &m->buckets[h & (m->n_buckets - 1)];
    e->next = *pe;
    *pe = e;
    m->size++;
    return 0;
}

void hmap_del(hmap_t *m, const char *key)
{
    entry_t **pe = find(m, key, hash_key(key));

    if (*pe != NULL) {
        unlink_entry(m, pe);
    }
}

size_t hmap_size(const hmap_t *m)
{
    return m->size;
}
