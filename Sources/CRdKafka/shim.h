// librdkafka from Swift: calls whose C shape Swift cannot make (the variadic producev, the
// rd_kafka_vu_t union) wrapped in one plain function each.
#ifndef STRONGROOM_CRDKAFKA_SHIM_H
#define STRONGROOM_CRDKAFKA_SHIM_H

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

// Produces one record. A NULL key or value is a Kafka null; has_key/has_value tell an empty
// one from a null one. `headers` pass to librdkafka on success and are destroyed on failure.
// `partition` is RD_KAFKA_PARTITION_UA for the partitioner's choice; timestamp 0 is "now".
// `topic` is a handle from rd_kafka_topic_new, so librdkafka does not look the name up per record.
static inline rd_kafka_resp_err_t sr_kafka_produce(rd_kafka_t *rk, rd_kafka_topic_t *topic, int32_t partition,
                                                   int has_key, const void *key, size_t key_len,
                                                   int has_value, const void *value, size_t value_len,
                                                   rd_kafka_headers_t *headers, int64_t timestamp,
                                                   void *opaque) {
    static const char empty[1] = {0};
    rd_kafka_vu_t vu[8];
    int n = 0;
    vu[n].vtype = RD_KAFKA_VTYPE_RKT;
    vu[n++].u.rkt = topic;
    vu[n].vtype = RD_KAFKA_VTYPE_PARTITION;
    vu[n++].u.i32 = partition;
    vu[n].vtype = RD_KAFKA_VTYPE_MSGFLAGS;
    vu[n++].u.i = RD_KAFKA_MSG_F_COPY;
    if (has_key) {
        vu[n].vtype = RD_KAFKA_VTYPE_KEY;
        vu[n].u.mem.ptr = (void *)(key ? key : empty);
        vu[n++].u.mem.size = key_len;
    }
    if (has_value) {
        vu[n].vtype = RD_KAFKA_VTYPE_VALUE;
        vu[n].u.mem.ptr = (void *)(value ? value : empty);
        vu[n++].u.mem.size = value_len;
    }
    if (timestamp > 0) {
        vu[n].vtype = RD_KAFKA_VTYPE_TIMESTAMP;
        vu[n++].u.i64 = timestamp;
    }
    if (headers) {
        vu[n].vtype = RD_KAFKA_VTYPE_HEADERS;
        vu[n++].u.headers = headers;
    }
    vu[n].vtype = RD_KAFKA_VTYPE_OPAQUE;
    vu[n++].u.ptr = opaque;
    rd_kafka_error_t *error = rd_kafka_produceva(rk, vu, (size_t)n);
    if (error == NULL) return RD_KAFKA_RESP_ERR_NO_ERROR;
    rd_kafka_resp_err_t code = rd_kafka_error_code(error);
    rd_kafka_error_destroy(error);
    if (headers) rd_kafka_headers_destroy(headers);
    return code;
}

// The record's timestamp in ms since 1970, or -1.
static inline int64_t sr_kafka_message_timestamp(const rd_kafka_message_t *m) {
    rd_kafka_timestamp_type_t type;
    return rd_kafka_message_timestamp(m, &type);
}

#endif
