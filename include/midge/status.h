/*
 * midge: status codes shared by every layer.
 *
 * One list, three families, never mixed:
 *   0            success
 *   1 .. 9       "not yet": nothing is wrong, try again later (flush, wait, retry)
 *  -1 .. -5      the broker refused the connection: -(CONNACK return code),
 *                MQTT 3.1.1 section 3.2.2.3
 *  -10 and below local failures
 *
 * The enum and midge_strerror() are generated from MIDGE_STATUS_LIST so they
 * cannot drift apart.
 */
#ifndef MIDGE_STATUS_H
#define MIDGE_STATUS_H

#define MIDGE_STATUS_LIST(X)                                                          \
    X(MIDGE_OK, 0, "success")                                                         \
    X(MIDGE_AGAIN, 1, "not yet: buffer full or no data, try again later")             \
    X(MIDGE_TIMEOUT, 2, "timed out waiting")                                          \
    X(MIDGE_REFUSED_PROTOCOL, -1, "connection refused: unacceptable protocol version") \
    X(MIDGE_REFUSED_IDENTIFIER, -2, "connection refused: identifier rejected")         \
    X(MIDGE_REFUSED_UNAVAILABLE, -3, "connection refused: server unavailable")         \
    X(MIDGE_REFUSED_CREDENTIALS, -4, "connection refused: bad user name or password")  \
    X(MIDGE_REFUSED_NOT_AUTHORIZED, -5, "connection refused: not authorized")          \
    X(MIDGE_ERR_INVALID, -10, "invalid argument")                                     \
    X(MIDGE_ERR_NO_SPACE, -11, "buffer too small")                                    \
    X(MIDGE_ERR_TOO_BIG, -12, "packet larger than the configured maximum")            \
    X(MIDGE_ERR_NOT_CONNECTED, -13, "not connected")                                  \
    X(MIDGE_ERR_PROTOCOL, -14, "protocol error: malformed or unexpected packet")      \
    X(MIDGE_ERR_KEEPALIVE, -15, "no traffic from the broker for 1.5 x keepalive")     \
    X(MIDGE_ERR_CONNACK_TIMEOUT, -16, "no CONNACK in time")                           \
    X(MIDGE_ERR_CLOSED, -17, "connection closed by peer")                             \
    X(MIDGE_ERR_IO, -18, "transport error")                                           \
    X(MIDGE_ERR_RESOLVE, -19, "host name not resolved")                               \
    X(MIDGE_ERR_CONNECT, -20, "could not connect to the server")                      \
    X(MIDGE_ERR_TLS, -21, "TLS error")                                                \
    X(MIDGE_ERR_SUBSCRIBE, -22, "subscription refused by the broker")                 \
    X(MIDGE_ERR_INFLIGHT_FULL, -23, "too many incoming QoS 2 messages in flight")     \
    X(MIDGE_ERR_STATE, -24, "call not allowed in the current state")                 \
    X(MIDGE_ERR_INTERRUPTED, -25, "interrupted by the application")                  \
    X(MIDGE_ERR_WRONG_ACK, -26, "broker acknowledged with the wrong QoS")                \
    X(MIDGE_ERR_HELD_DROPPED, -27,                                                     \
      "held messages dropped unacknowledged, to come again on a new connection")       \
    X(MIDGE_ERR_BIND, -28, "could not bind the local address")

typedef enum midge_status {
#define MIDGE_STATUS_ENUM(name, value, text) name = (value),
    MIDGE_STATUS_LIST(MIDGE_STATUS_ENUM)
#undef MIDGE_STATUS_ENUM
} midge_status;

#ifdef __cplusplus
extern "C" {
#endif

/* A static, never-NULL description; "unknown status" for values not in the list. */
const char *midge_strerror(int status);

/* The symbolic name ("MIDGE_ERR_PROTOCOL"), or "MIDGE_UNKNOWN". */
const char *midge_status_name(int status);

/* True for -1..-5: the broker answered CONNACK with a non-zero return code. */
static inline int midge_status_is_refusal(int status) { return status <= -1 && status >= -5; }

/* True for the "not yet" family (retry later), false for success and failures. */
static inline int midge_status_is_pending(int status) { return status > 0; }

#ifdef __cplusplus
}
#endif

#endif /* MIDGE_STATUS_H */
