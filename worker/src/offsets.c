/* Per-partition commit positions; see offsets.h. */

#include "offsets.h"

#include <stdlib.h>
#include <string.h>

/* One partition: its unresolved messages in offset order, oldest first. */
typedef struct offsets_part {
    char *topic;
    int32_t partition;
    struct offsets_part *next_in_bucket;
    offsets_msg_t *head;
    offsets_msg_t *tail;
    int64_t position; /* next offset to commit; -1 while unknown */
    bool dirty;       /* position moved since the last store */
    bool forgotten;   /* revoked: kept only for its held messages */
    size_t n_msgs;
} offsets_part_t;

struct offsets_msg {
    offsets_part_t *part;
    offsets_msg_t *next;
    int64_t offset;
    int holds;
};

#define N_BUCKETS 256

struct offsets {
    offsets_part_t *buckets[N_BUCKETS];
    offsets_part_t *forgotten; /* revoked partitions with held messages */
    size_t unresolved;
};

static unsigned bucket_of(const char *topic, int32_t partition)
{
    /* FNV-1a over the topic, mixed with the partition number. */
    uint32_t h = 2166136261u;
    for (const unsigned char *p = (const unsigned char *)topic; *p; p++) {
        h = (h ^ *p) * 16777619u;
    }
    h ^= (uint32_t)partition * 2654435761u;
    return h % N_BUCKETS;
}

offsets_t *offsets_new(void)
{
    return calloc(1, sizeof(offsets_t));
}

static void part_free(offsets_part_t *p)
{
    offsets_msg_t *m = p->head;
    while (m != NULL) {
        offsets_msg_t *next = m->next;
        free(m);
        m = next;
    }
    free(p->topic);
    free(p);
}

void offsets_free(offsets_t *o)
{
    if (o == NULL) {
        return;
    }
    for (size_t i = 0; i < N_BUCKETS; i++) {
        offsets_part_t *p = o->buckets[i];
        while (p != NULL) {
            offsets_part_t *next = p->next_in_bucket;
            part_free(p);
            p = next;
        }
    }
    while (o->forgotten != NULL) {
        offsets_part_t *next = o->forgotten->next_in_bucket;
        part_free(o->forgotten);
        o->forgotten = next;
    }
    free(o);
}

static offsets_part_t *part_find(offsets_t *o, const char *topic,
                                 int32_t partition, bool create)
{
    unsigned b = bucket_of(topic, partition);
    offsets_part_t *p;

    for (p = o->buckets[b]; p != NULL; p = p->next_in_bucket) {
        if (p->partition == partition && strcmp(p->topic, topic) == 0) {
            return p;
        }
    }
    if (!create) {
        return NULL;
    }
    p = calloc(1, sizeof(*p));
    if (p == NULL || (p->topic = strdup(topic)) == NULL) {
        free(p);
        return NULL;
    }
    p->partition = partition;
    p->position = -1;
    p->next_in_bucket = o->buckets[b];
    o->buckets[b] = p;
    return p;
}

offsets_msg_t *offsets_track(offsets_t *o, const char *topic, int32_t partition,
                             int64_t offset)
{
    offsets_part_t *p = part_find(o, topic, partition, true);
    offsets_msg_t *m;

    if (p == NULL || (m = calloc(1, sizeof(*m))) == NULL) {
        return NULL;
    }
    m->part = p;
    m->offset = offset;
    m->holds = 1;

    /* Messages arrive in offset order; a re-fetch after a pause could bring
     * an older one, which must still hold the position back. */
    if (p->tail == NULL) {
        p->head = p->tail = m;
    } else if (p->tail->offset < offset) {
        p->tail->next = m;
        p->tail = m;
    } else if (offset < p->head->offset) {
        m->next = p->head;
        p->head = m;
    } else {
        offsets_msg_t *prev = p->head;
        while (prev->next != NULL && prev->next->offset < offset) {
            prev = prev->next;
        }
        m->next = prev->next;
        prev->next = m;
        if (m->next == NULL) {
            p->tail = m;
        }
    }
    if (offset < p->position) {
        /* Re-fetched behind the position: nothing may be committed past a
         * message not yet resolved, even a copy of one done before. */
        p->position = offset;
        p->dirty = true;
    }
    p->n_msgs++;
    o->unresolved++;
    return m;
}

void offsets_hold(offsets_msg_t *m)
{
    m->holds++;
}

/* Pops the resolved messages at the head of a partition. */
static void part_advance(offsets_part_t *p)
{
    while (p->head != NULL && p->head->holds == 0) {
        offsets_msg_t *m = p->head;
        p->head = m->next;
        if (p->head == NULL) {
            p->tail = NULL;
        }
        p->position = m->offset + 1;
        p->dirty = true;
        p->n_msgs--;
        free(m);
    }
    if (p->head != NULL && p->head->offset != p->position) {
        /* The lowest unresolved message is the next to commit; it may sit
         * below the position just reached when it is a re-fetched copy. */
        p->position = p->head->offset;
        p->dirty = true;
    }
}

void offsets_release(offsets_t *o, offsets_msg_t *m)
{
    offsets_part_t *p = m->part;

    if (--m->holds > 0) {
        return;
    }
    if (!p->forgotten) {
        o->unresolved--;
    }
    part_advance(p);
    if (p->forgotten && p->n_msgs == 0) {
        /* The list is short: only partitions revoked mid-delivery. */
        offsets_part_t **pp = &o->forgotten;
        while (*pp != p) {
            pp = &(*pp)->next_in_bucket;
        }
        *pp = p->next_in_bucket;
        part_free(p);
    }
}

rd_kafka_resp_err_t offsets_store(offsets_t *o, rd_kafka_t *rk)
{
    rd_kafka_topic_partition_list_t *list = NULL;
    rd_kafka_resp_err_t err = RD_KAFKA_RESP_ERR_NO_ERROR;

    for (size_t i = 0; i < N_BUCKETS; i++) {
        for (offsets_part_t *p = o->buckets[i]; p; p = p->next_in_bucket) {
            if (!p->dirty || p->position < 0) {
                continue;
            }
            if (list == NULL) {
                list = rd_kafka_topic_partition_list_new(8);
            }
            rd_kafka_topic_partition_list_add(list, p->topic, p->partition)
                ->offset = p->position;
            p->dirty = false;
        }
    }
    if (list != NULL) {
        err = rd_kafka_offsets_store(rk, list);
        rd_kafka_topic_partition_list_destroy(list);
    }
    return err;
}

void offsets_forget(offsets_t *o, const char *topic, int32_t partition)
{
    unsigned b = bucket_of(topic, partition);
    offsets_part_t **pp = &o->buckets[b];

    while (*pp != NULL) {
        offsets_part_t *p = *pp;
        if (p->partition == partition && strcmp(p->topic, topic) == 0) {
            *pp = p->next_in_bucket;
            /* Held messages still point here; the last release frees it. */
            for (offsets_msg_t *m = p->head; m != NULL; m = m->next) {
                if (m->holds > 0) {
                    o->unresolved--;
                }
            }
            if (p->n_msgs == 0) {
                part_free(p);
            } else {
                p->forgotten = true;
                p->next_in_bucket = o->forgotten;
                o->forgotten = p;
            }
            return;
        }
        pp = &p->next_in_bucket;
    }
}

int64_t offsets_position(const offsets_t *o, const char *topic,
                         int32_t partition)
{
    const offsets_part_t *p = o->buckets[bucket_of(topic, partition)];

    for (; p != NULL; p = p->next_in_bucket) {
        if (p->partition == partition && strcmp(p->topic, topic) == 0) {
            return p->position;
        }
    }
    return -1;
}

size_t offsets_unresolved(const offsets_t *o)
{
    return o->unresolved;
}

const char *offsets_msg_topic(const offsets_msg_t *m)
{
    return m->part->topic;
}

int32_t offsets_msg_partition(const offsets_msg_t *m)
{
    return m->part->partition;
}

int64_t offsets_msg_offset(const offsets_msg_t *m)
{
    return m->offset;
}
