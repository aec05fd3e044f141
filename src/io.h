/*
 * io.h: a non-blocking socket with an input and an output evbuffer, driven
 * by one edge-triggered, persistent libevent event (L3); EV_CLOSED
 * (EPOLLRDHUP) tells of a FIN that arrived together with the last data.
 *
 * Why not bufferevents: a bufferevent adds and removes its write interest
 * around every flush and asks the kernel for FIONREAD before every read,
 * which cost six epoll_ctl and two ioctl calls per proxied request. Here
 * the descriptor is registered once (EV_READ|EV_WRITE|EV_ET) for its whole
 * life; output is written at once when produced and only waits for the
 * kernel when the socket buffer is full; a read shorter than asked means
 * the socket is drained (nginx's rule), so no extra read meets EAGAIN.
 *
 * The owner gets one callback, on_io(arg), whenever input arrived, the
 * peer closed (io->eof), an error happened (io->err), a connect finished
 * (io->connected), or queued output drained below the low mark. Reading
 * stops while the input holds in_high bytes or more, or while paused.
 */
#ifndef VANE_IO_H
#define VANE_IO_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

struct event;
struct event_base;
struct evbuffer;
struct tls_conn;

struct io {
	int		 fd;
	struct event	*ev;
	struct evbuffer	*in;
	struct evbuffer	*out;
	void		(*on_io)(void *);
	void		*arg;
	size_t		 in_high;	/* stop reading at this much input */
	uint64_t	 last_write;	/* ms of the last write progress */
	int		 err;		/* errno of a failed read/write/connect */
	unsigned	 readable:1;	/* the kernel may hold unread bytes */
	unsigned	 writable:1;	/* the socket accepts writes */
	unsigned	 paused:1;	/* the owner does not want input now */
	unsigned	 eof:1;		/* the peer closed its side (read 0) */
	unsigned	 rdhup:1;	/* the kernel reported the peer's FIN */
	unsigned	 connecting:1;
	unsigned	 connected:1;
	unsigned	 handshaking:1;	/* TLS: handshake not done yet */
	struct tls_conn	*tls;		/* NULL: plain socket */
	size_t		 tls_wlen;	/* a TLS write to retry, this long */
};

/* Take over fd (non-blocking). Returns 0 or -1; on -1 fd is not closed. */
int	io_init(struct io *io, struct event_base *base, int fd,
	    void (*on_io)(void *), void *arg);
/* Start a non-blocking connect; on_io is called with io->connected or
 * io->err set. Returns 0 or -1 (errno). */
int	io_connect(struct io *io, struct event_base *base,
	    const struct sockaddr *sa, socklen_t len,
	    void (*on_io)(void *), void *arg);
/* Buffers only, no socket (fd -1, no event): for a client vane makes
 * itself (client_background), whose output nobody reads. 0 or -1. The
 * io_* calls that need the event (io_resume, io_kick) must not be made
 * on it. */
int	io_init_buffers(struct io *io);
/*
 * Speak TLS on io from now on (a server connection just accepted, or a
 * client one just started with io_connect; tc is over io's descriptor,
 * and io owns it from now). The handshake runs inside io, after the
 * connect: the owner's on_io is called once it is done (with input, if
 * any came with it; a client's io->connected is set only then) or failed
 * (io->err, EPROTO for a TLS failure), never in between.
 */
void	io_start_tls(struct io *io, struct tls_conn *tc);
/* Why the connection failed: the TLS error, else strerror(io->err). */
const char	*io_error(const struct io *io);
/* The write side is done: close_notify for TLS, then shutdown(SHUT_WR). */
void	io_shutdown_write(struct io *io);
/* Close the socket and free the buffers. */
void	io_close(struct io *io);
/* Close the descriptor but keep the buffers (a connection whose peer is
 * gone while its transaction goes on): it reads EOF and writes nothing. */
void	io_drop_fd(struct io *io);
void	io_set_owner(struct io *io, void (*on_io)(void *), void *arg);
/* Moving a connection to another thread's loop: io_detach leaves the
 * loop (socket, buffers and TLS state kept), io_attach joins base (on
 * its thread). io_attach returns 0, or -1 (still detached). */
void	io_detach(struct io *io);
int	io_attach(struct io *io, struct event_base *base);

/* Read what the socket holds (up to in_high). Returns the bytes read;
 * sets io->eof or io->err. */
size_t	io_read(struct io *io);
/* Write queued output now. Returns 0, or -1 on a write error (io->err). */
int	io_flush(struct io *io);
void	io_pause(struct io *io);
/* Resume reading; if bytes may be waiting, on_io runs from the loop. */
void	io_resume(struct io *io);
/* Bytes queued for writing. */
size_t	io_pending(const struct io *io);
/* Input was consumed: if reading stopped at in_high, go on (from the loop). */
void	io_kick(struct io *io);

/*
 * A lazy deadline timer. Setting a later deadline than the one pending
 * costs nothing: the event fires early, sees the new deadline and re-arms.
 * Moving it earlier re-adds the event. So a keep-alive connection that
 * moves its deadline on every request touches the timer heap about once
 * per timeout period, not several times per request.
 */
struct ltimer {
	struct event	*ev;
	uint64_t	 at;		/* ms when the pending event fires; 0: none */
	uint64_t	 deadline;	/* ms; 0: none */
	void		(*fire)(void *);
	void		*arg;
};

int	ltimer_init(struct ltimer *t, struct event_base *base,
	    void (*fire)(void *), void *arg);
void	ltimer_set(struct ltimer *t, uint64_t deadline);
void	ltimer_free(struct ltimer *t);

#endif
