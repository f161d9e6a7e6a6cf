/*
 * midge POSIX port: MQTT over a Unix-domain stream socket, for a broker
 * that listens on a path (mosquitto's `listener 0 /run/mosquitto.sock`).
 * Only the connect differs from TCP: the bytes move through the same
 * non-blocking send/recv/wait/close (socket_internal.h).
 */
#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "midge/port.h"
#include "socket_internal.h"

midge_status midge_unix_open(midge_tcp *sock, const char *path, uint32_t timeout_ms,
                             midge_transport *t)
{
    struct sockaddr_un addr;

    if (sock == NULL || path == NULL || t == NULL)
        return MIDGE_ERR_INVALID;
    sock->fd = -1;
    /* sun_path holds about 108 bytes with its NUL; a longer path would be
     * cut and name another socket. */
    size_t len = strlen(path);
    if (len == 0 || len >= sizeof addr.sun_path)
        return MIDGE_ERR_INVALID;
    memset(&addr, 0, sizeof addr);
    addr.sun_family = AF_UNIX;
    memcpy(addr.sun_path, path, len + 1);

    int fd = midge_posix__socket(AF_UNIX, SOCK_STREAM, 0);
    if (fd < 0)
        return MIDGE_ERR_CONNECT;
    /* A listener with a full backlog answers EAGAIN, not EINPROGRESS:
     * both mean "not yet" and end in the same bounded wait. */
    if (connect(fd, (const struct sockaddr *)&addr, sizeof addr) != 0 &&
        ((errno != EINPROGRESS && errno != EAGAIN && errno != EINTR) ||
         midge_posix__finish_connect(fd, timeout_ms) != 0)) {
        close(fd);
        return MIDGE_ERR_CONNECT;
    }
    sock->fd = fd;
    midge_posix__stream_transport(sock, t);
    return MIDGE_OK;
}

midge_status midge_unix_opener(void *opener, const char *host, uint16_t port,
                               uint32_t timeout_ms, midge_transport *t)
{
    (void)port;
    return midge_unix_open(opener, host, timeout_ms, t);
}
