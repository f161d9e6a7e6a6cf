# A stream written in Python: an io.IOBase subclass over a socket. The
# MicroPython stream protocol reaches it through readinto, write and
# ioctl; the module must work over it as over the socket itself. Given to
# MQTTClient as its `ssl` argument (an object with wrap_socket, as an
# SSLContext is), it stands where a TLS layer would.
import io
import select

MP_STREAM_POLL = 3
MP_STREAM_CLOSE = 4


class SocketStream(io.IOBase):
    def __init__(self, sock):
        # A blocking socket's readinto fills the whole buffer; a
        # non-blocking one returns what has arrived (None for nothing).
        sock.setblocking(False)
        self.sock = sock
        self.poller = select.poll()
        self.poller.register(sock, select.POLLIN | select.POLLOUT)
        self.reads = 0
        self.writes = 0

    def readinto(self, buf):
        self.reads += 1
        return self.sock.readinto(buf)

    def write(self, buf):
        self.writes += 1
        return self.sock.write(buf)

    def ioctl(self, req, arg):
        if req == MP_STREAM_POLL:
            ready = 0
            for _, ev in self.poller.poll(0):
                ready |= ev
            return ready & (arg | select.POLLERR | select.POLLHUP)
        if req == MP_STREAM_CLOSE:
            self.sock.close()
            return 0
        return -22  # EINVAL: no file descriptor to hand out


class Wrapper:
    """Stands where an SSLContext would: wrap_socket gives the stream."""

    def __init__(self):
        self.streams = []

    def wrap_socket(self, sock, server_hostname=None):
        s = SocketStream(sock)
        self.streams.append(s)
        return s
