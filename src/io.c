/*
 * io.c: edge-triggered socket I/O over evbuffers. See io.h.
 */
#include <errno.h>
#include <stddef.h>
#include <fcntl.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/event.h>

#include "io.h"
#include "tls.h"
#include "util.h"

/* evbuffer_iovec is handed to the kernel as struct iovec. */
_Static_assert(sizeof(struct evbuffer_iovec) == sizeof(struct iovec) &&
    offsetof(struct evbuffer_iovec, iov_base) ==
    offsetof(struct iovec, iov_base) &&
    offsetof(struct evbuffer_iovec, iov_len) ==
    offsetof(struct iovec, iov_len), "evbuffer_iovec is not struct iovec");

/*
 * Bytes asked of the kernel per read: a request or a small response head
 * fits the first, small chunk (libevent rounds a chain up to a power of
 * two with its header, so 4096 - 64 is one 4 KiB allocation); a read that
 * fills it means more is coming, and the next reads ask for more.
 */
#define READ_FIRST	(4096 - 64)
#define READ_CHUNK	(16384 - 64)

/*
 * TLS writes: output in several small chains (a head and a small body)
 * is gathered into one record of up to TLS_GATHER bytes rather than sent
 * as a record and a send(2) per chain; a large chain is written from
 * where it lies, at most TLS_WRITE_MAX at a time.
 */
#define TLS_GATHER	16384
#define TLS_WRITE_MAX	65536

static int	io_handshake(struct io *);

/* The connect finished: 0 when it succeeded, -1 when it failed
 * (io->err). */
static int
io_connect_done(struct io *io)
{
	int e = 0;
	socklen_t elen = sizeof(e);

	io->connecting = 0;
	io->writable = 1;
	if (getsockopt(io->fd, SOL_SOCKET, SO_ERROR, &e, &elen) == -1)
		e = errno;
	if (e != 0) {
		io->err = e;
		return (-1);
	}
	return (0);
}

static void
io_event_cb(evutil_socket_t fd, short what, void *arg)
{
	struct io *io = arg;

	(void)fd;
	if (io->connecting && (what & EV_WRITE)) {
		/* Over TLS the owner hears "connected" only once the
		 * handshake, which starts now, is done (io_handshake). */
		if (io_connect_done(io) == -1 || !io->handshaking) {
			io->connected = io->err == 0;
			io->on_io(io->arg);
			return;
		}
	}
	if (io->handshaking) {
		if (io->connecting)
			return;		/* no handshake before the connect */
		if (what & EV_WRITE)
			io->writable = 1;
		if (what & EV_CLOSED)
			io->rdhup = 1;
		if (io_handshake(io) != 0) {
			if (io->err != 0)
				io->on_io(io->arg);
			return;
		}
		what |= EV_READ;	/* a request may have come with it */
	}
	if (what & EV_WRITE) {
		io->writable = 1;
		if (evbuffer_get_length(io->out) > 0 && io_flush(io) == -1) {
			io->on_io(io->arg);
			return;
		}
	}
	if (what & EV_CLOSED)
		io->rdhup = 1;
	if (what & (EV_READ | EV_CLOSED)) {
		io->readable = 1;
		if (!io->paused)
			(void)io_read(io);
	}
	io->on_io(io->arg);
}

/* Free the event and the buffers; the descriptor stays open. */
static void
io_release(struct io *io)
{
	if (io->ev != NULL)
		event_free(io->ev);
	if (io->in != NULL)
		evbuffer_free(io->in);
	if (io->out != NULL)
		evbuffer_free(io->out);
	io->ev = NULL;
	io->in = io->out = NULL;
}

static int
io_setup(struct io *io, struct event_base *base, int fd,
    void (*on_io)(void *), void *arg)
{
	memset(io, 0, sizeof(*io));
	io->fd = fd;
	io->on_io = on_io;
	io->arg = arg;
	io->in_high = 256 * 1024;
	io->in = evbuffer_new();
	io->out = evbuffer_new();
	io->ev = event_new(base, fd, EV_READ | EV_WRITE | EV_CLOSED | EV_PERSIST | EV_ET,
	    io_event_cb, io);
	if (io->in == NULL || io->out == NULL || io->ev == NULL ||
	    event_add(io->ev, NULL) == -1) {
		io_release(io);
		return (-1);
	}
	return (0);
}

int
io_init(struct io *io, struct event_base *base, int fd,
    void (*on_io)(void *), void *arg)
{
	if (io_setup(io, base, fd, on_io, arg) == -1)
		return (-1);
	io->connected = 1;
	/* Edge-triggered: anything already buffered would not show up as
	 * a new edge, so the first read is tried at once by the owner. */
	io->readable = 1;
	io->writable = 1;
	return (0);
}

int
io_connect(struct io *io, struct event_base *base, const struct sockaddr *sa,
    socklen_t len, void (*on_io)(void *), void *arg)
{
	int fd, e;

	fd = socket(sa->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
	    0);
	if (fd == -1)
		return (-1);
	if (connect(fd, sa, len) == -1 && errno != EINPROGRESS) {
		e = errno;
		close(fd);
		errno = e;
		return (-1);
	}
	if (io_setup(io, base, fd, on_io, arg) == -1) {
		close(fd);
		errno = ENOMEM;
		return (-1);
	}
	io->connecting = 1;
	return (0);
}

void
io_detach(struct io *io)
{
	if (io->ev != NULL)
		event_free(io->ev);
	io->ev = NULL;
}

int
io_attach(struct io *io, struct event_base *base)
{
	io->ev = event_new(base, io->fd, EV_READ | EV_WRITE | EV_CLOSED |
	    EV_PERSIST | EV_ET, io_event_cb, io);
	if (io->ev == NULL || event_add(io->ev, NULL) == -1) {
		if (io->ev != NULL)
			event_free(io->ev);
		io->ev = NULL;
		return (-1);
	}
	/* Bytes may have come while no loop watched: no edge tells. */
	io->readable = io->writable = 1;
	return (0);
}

int
io_init_buffers(struct io *io)
{
	memset(io, 0, sizeof(*io));
	io->fd = -1;
	io->in = evbuffer_new();
	io->out = evbuffer_new();
	if (io->in == NULL || io->out == NULL) {
		io_release(io);
		return (-1);
	}
	return (0);
}

void
io_start_tls(struct io *io, struct tls_conn *tc)
{
	io->tls = tc;
	io->handshaking = 1;
}

/* One step of the TLS handshake: 0 done, 1 not yet, -1 failed
 * (io->err). */
static int
io_handshake(struct io *io)
{
	switch (tls_handshake(io->tls)) {
	case TLS_OK:
		io->handshaking = 0;
		io->connected = 1;	/* a client's connect ends here */
		io->readable = 1;	/* OpenSSL may hold a request already */
		return (0);
	case TLS_WANT_READ:
	case TLS_WANT_WRITE:
		return (1);
	default:
		io->err = EPROTO;
		return (-1);
	}
}

const char *
io_error(const struct io *io)
{
	if (io->tls != NULL && io->err == EPROTO &&
	    tls_conn_error(io->tls)[0] != '\0')
		return (tls_conn_error(io->tls));
	return (strerror(io->err));
}

void
io_shutdown_write(struct io *io)
{
	if (io->tls != NULL && !io->handshaking && io->err == 0) {
		tls_conn_free(io->tls, 1);	/* close_notify */
		io->tls = NULL;
		io->eof = 1;	/* nothing more is read through TLS */
	}
	if (io->fd != -1)
		(void)shutdown(io->fd, SHUT_WR);
}

void
io_close(struct io *io)
{
	if (io->tls != NULL) {
		tls_conn_free(io->tls, io->err == 0 && !io->handshaking);
		io->tls = NULL;
	}
	if (io->ev != NULL)
		close(io->fd);
	io_release(io);
	io->fd = -1;
}

void
io_drop_fd(struct io *io)
{
	if (io->tls != NULL) {
		tls_conn_free(io->tls, 0);
		io->tls = NULL;
	}
	io->handshaking = 0;
	if (io->ev != NULL) {
		event_free(io->ev);
		close(io->fd);
	}
	io->ev = NULL;
	io->fd = -1;
	io->readable = io->writable = io->paused = 0;
	io->eof = 1;
	io->err = 0;
}

void
io_set_owner(struct io *io, void (*on_io)(void *), void *arg)
{
	io->on_io = on_io;
	io->arg = arg;
}

/* Bytes to ask for next, total read so far: 0 once the input holds
 * in_high (reading stops). */
static size_t
read_want(const struct io *io, size_t total)
{
	size_t have = evbuffer_get_length(io->in), max;

	if (have >= io->in_high)
		return (0);
	max = total == 0 ? READ_FIRST : READ_CHUNK;
	return (io->in_high - have < max ? io->in_high - have : max);
}

/* io_read through TLS. */
static size_t
io_read_tls(struct io *io)
{
	struct evbuffer_iovec v[1];
	size_t total = 0, want, got;
	int drained;

	if (io->handshaking && io_handshake(io) != 0)
		return (0);
	while (io->readable && !io->eof && io->err == 0) {
		if ((want = read_want(io, total)) == 0)
			break;
		if (evbuffer_reserve_space(io->in, (ev_ssize_t)want, v, 1) < 1) {
			io->err = ENOMEM;
			break;
		}
		if (v[0].iov_len > want)
			v[0].iov_len = want;
		switch (tls_read(io->tls, v[0].iov_base, v[0].iov_len, &got,
		    &drained)) {
		case TLS_OK:
			v[0].iov_len = got;
			evbuffer_commit_space(io->in, v, 1);
			total += got;
			if (drained && !io->rdhup)
				io->readable = 0;
			continue;
		case TLS_WANT_READ:
		case TLS_WANT_WRITE:	/* no renegotiation: only a key
					 * update could want it */
			io->readable = 0;
			break;
		case TLS_EOF:
			io->eof = 1;
			break;
		default:
			io->err = EPROTO;
			break;
		}
		evbuffer_commit_space(io->in, v, 0);
	}
	return (total);
}

size_t
io_read(struct io *io)
{
	struct evbuffer_iovec v[2];
	struct msghdr msg;
	size_t total = 0, want;
	ssize_t n;
	int nv;

	if (io->tls != NULL)
		return (io_read_tls(io));
	while (io->readable && !io->eof && io->err == 0) {
		if ((want = read_want(io, total)) == 0)
			break;
		if ((nv = evbuffer_reserve_space(io->in, (ev_ssize_t)want, v,
		    2)) < 1) {
			io->err = ENOMEM;
			break;
		}
		/* recvmsg, not readv: a socket call skips the VFS layer
		 * (file position lock, rw_verify_area) that readv takes. */
		memset(&msg, 0, sizeof(msg));
		msg.msg_iov = (struct iovec *)v;
		msg.msg_iovlen = (size_t)nv;
		n = recvmsg(io->fd, &msg, 0);
		if (n > 0) {
			size_t left = (size_t)n;
			int i;

			for (i = 0; i < nv; i++) {
				if (v[i].iov_len > left)
					v[i].iov_len = left;
				left -= v[i].iov_len;
			}
			evbuffer_commit_space(io->in, v, nv);
			total += (size_t)n;
			/* A short read drained the socket, unless the peer
			 * also closed (EPOLLRDHUP): then read on to the EOF,
			 * for which no other edge will come. */
			if ((size_t)n < want && !io->rdhup)
				io->readable = 0;
			continue;
		}
		evbuffer_commit_space(io->in, v, 0);
		if (n == 0)
			io->eof = 1;
		else if (errno == EAGAIN || errno == EWOULDBLOCK)
			io->readable = 0;
		else if (errno != EINTR)
			io->err = errno;
	}
	return (total);
}

/*
 * Write up to IO_MAX_IOV chains of out with one sendmsg: a socket call,
 * not writev (no VFS layer on the way), and MSG_NOSIGNAL rather than a
 * process-wide SIGPIPE disposition. Returns bytes written or -1.
 */
#define IO_MAX_IOV	16

/*
 * TLS: one SSL_write. After a write that had to wait, the same bytes are
 * written again (OpenSSL's rule), which is the front of out, untouched.
 */
static ssize_t
io_send_tls(struct io *io)
{
	struct evbuffer_iovec v[1];
	size_t len = evbuffer_get_length(io->out), n, written;
	unsigned char *p;

	if ((n = io->tls_wlen) == 0) {
		if (evbuffer_peek(io->out, -1, NULL, v, 1) < 1)
			return (0);
		if (v[0].iov_len >= len || v[0].iov_len >= TLS_GATHER)
			n = v[0].iov_len;
		else
			n = len;
		if (n > TLS_WRITE_MAX)
			n = TLS_WRITE_MAX;
		if (n > TLS_GATHER && v[0].iov_len < n)
			n = TLS_GATHER;
	}
	if ((p = evbuffer_pullup(io->out, (ev_ssize_t)n)) == NULL) {
		errno = ENOMEM;
		return (-1);
	}
	switch (tls_write(io->tls, p, n, &written)) {
	case TLS_OK:
		io->tls_wlen = 0;
		evbuffer_drain(io->out, written);
		return ((ssize_t)written);
	case TLS_WANT_WRITE:
	case TLS_WANT_READ:
		io->tls_wlen = n;
		errno = EAGAIN;
		return (-1);
	default:
		errno = EPROTO;
		return (-1);
	}
}

static ssize_t
io_send(struct io *io)
{
	struct evbuffer_iovec v[IO_MAX_IOV];
	struct msghdr msg;
	ssize_t n;
	int nv;

	if (io->tls != NULL)
		return (io_send_tls(io));
	nv = evbuffer_peek(io->out, -1, NULL, v, IO_MAX_IOV);
	if (nv > IO_MAX_IOV)
		nv = IO_MAX_IOV;
	memset(&msg, 0, sizeof(msg));
	msg.msg_iov = (struct iovec *)v;
	msg.msg_iovlen = (size_t)nv;
	n = sendmsg(io->fd, &msg, MSG_NOSIGNAL);
	if (n > 0)
		evbuffer_drain(io->out, (size_t)n);
	return (n);
}

int
io_flush(struct io *io)
{
	ssize_t n;

	if (!io->writable || io->handshaking ||
	    evbuffer_get_length(io->out) == 0)
		return (0);
	/* The send timeout counts from here: progress, or the moment the
	 * socket stopped taking bytes. */
	io->last_write = now_mono_ms();
	while (evbuffer_get_length(io->out) > 0) {
		n = io_send(io);
		if (n > 0)
			continue;
		if (n == -1 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			io->writable = 0;
			break;
		}
		if (n == -1 && errno == EINTR)
			continue;
		io->err = n == 0 ? EPIPE : errno;
		return (-1);
	}
	return (0);
}

void
io_pause(struct io *io)
{
	io->paused = 1;
}

void
io_resume(struct io *io)
{
	if (!io->paused)
		return;
	io->paused = 0;
	/* No new edge will come for bytes already in the kernel. */
	if ((io->readable || io->eof) && io->ev != NULL)
		event_active(io->ev, EV_READ, 0);
}

size_t
io_pending(const struct io *io)
{
	return (evbuffer_get_length(io->out));
}

void
io_kick(struct io *io)
{
	if (io->readable && !io->paused && !io->eof && io->err == 0 &&
	    evbuffer_get_length(io->in) < io->in_high)
		event_active(io->ev, EV_READ, 0);
}

static void
ltimer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct ltimer *t = arg;
	uint64_t now;
	struct timeval tv;

	t->at = 0;
	if (t->deadline == 0)
		return;
	now = now_mono_ms();
	if (now < t->deadline) {
		tv.tv_sec = (time_t)((t->deadline - now) / 1000);
		tv.tv_usec = (suseconds_t)((t->deadline - now) % 1000) * 1000;
		if (evtimer_add(t->ev, &tv) == 0)
			t->at = t->deadline;
		return;
	}
	t->deadline = 0;
	t->fire(t->arg);
}

int
ltimer_init(struct ltimer *t, struct event_base *base, void (*fire)(void *),
    void *arg)
{
	t->at = t->deadline = 0;
	t->fire = fire;
	t->arg = arg;
	t->ev = evtimer_new(base, ltimer_cb, t);
	return (t->ev == NULL ? -1 : 0);
}

void
ltimer_set(struct ltimer *t, uint64_t deadline)
{
	struct timeval tv;
	uint64_t now;

	t->deadline = deadline;
	if (deadline == 0 || (t->at != 0 && t->at <= deadline))
		return;
	now = now_mono_ms();
	if (deadline < now)
		deadline = now;
	tv.tv_sec = (time_t)((deadline - now) / 1000);
	tv.tv_usec = (suseconds_t)((deadline - now) % 1000) * 1000;
	if (evtimer_add(t->ev, &tv) == 0)
		t->at = deadline;
}

void
ltimer_free(struct ltimer *t)
{
	if (t->ev != NULL)
		event_free(t->ev);
	t->ev = NULL;
}
