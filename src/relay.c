/*
 * relay.c: body framing on the way through. See relay.h.
 */
#include <inttypes.h>
#include <stdio.h>

#include "relay.h"

void
relay_init(struct relay *r, int mode, uint64_t length, uint64_t limit)
{
	r->mode = mode;
	r->remaining = length;
	r->limit = limit;
	r->moved = 0;
	r->done = (mode == RELAY_NONE ||
	    (mode == RELAY_LENGTH && length == 0));
	r->tee = NULL;
	r->tee_max = 0;
	r->tee_over = 0;
	r->dst = NULL;
	http_chunked_init(&r->ch);
}

void
relay_tee(struct relay *r, struct evbuffer *tee, uint64_t max)
{
	r->tee = tee;
	r->tee_max = max;
	r->tee_over = 0;
}

/* Copy data bytes into the tee, or give up on it past tee_max. */
static void
tee_add(struct relay *r, const void *p, size_t n)
{
	if (r->tee == NULL || r->tee_over || n == 0)
		return;
	if (evbuffer_get_length(r->tee) + n > r->tee_max ||
	    evbuffer_add(r->tee, p, n) == -1)
		r->tee_over = 1;
}

/* The first n bytes of src into the tee, before they move on. */
static void
tee_copy(struct relay *r, struct evbuffer *src, size_t n)
{
	struct evbuffer_iovec v;

	if (r->tee == NULL || r->tee_over || n == 0)
		return;
	if (evbuffer_get_length(r->tee) + n > r->tee_max ||
	    evbuffer_reserve_space(r->tee, (ev_ssize_t)n, &v, 1) != 1 ||
	    evbuffer_copyout(src, v.iov_base, n) != (ev_ssize_t)n) {
		r->tee_over = 1;
		return;
	}
	v.iov_len = n;
	if (evbuffer_commit_space(r->tee, &v, 1) == -1)
		r->tee_over = 1;
}

/* Data of a chunked body passed on with its framing: only the tee. */
static void
chunk_data(void *arg, const char *p, size_t n)
{
	tee_add(arg, p, n);
}

static void
dechunk_data(void *arg, const char *p, size_t n)
{
	struct relay *r = arg;

	/* An allocation failure here loses bytes; the caller sees the
	 * output short of the framing and the client gets a cut body, which
	 * its own framing (close-delimited) cannot tell. Rare enough: the
	 * only user is the HTTP/1.0 path. */
	(void)evbuffer_add(r->dst, p, n);
	tee_add(r, p, n);
}

/*
 * Validate chunked framing over what src holds; pass the validated bytes
 * on (RELAY_CHUNKED) or only their data (RELAY_DECHUNK).
 */
static int
move_chunked(struct relay *r, struct evbuffer *src, struct evbuffer *dst)
{
	struct evbuffer_iovec v[16];
	size_t used, total;
	int i, n, rc = HP_AGAIN;

	r->dst = dst;
	while (evbuffer_get_length(src) > 0 && rc == HP_AGAIN) {
		n = evbuffer_peek(src, -1, NULL, v, 16);
		if (n > 16)
			n = 16;
		total = 0;
		for (i = 0; i < n && rc == HP_AGAIN; i++) {
			rc = http_chunked_parse(&r->ch, v[i].iov_base,
			    v[i].iov_len, &used,
			    r->mode == RELAY_DECHUNK ? dechunk_data :
			    r->tee != NULL ? chunk_data : NULL, r);
			total += used;
		}
		if (rc < 0 && rc != HP_AGAIN)
			return (RELAY_EFRAME);
		if (r->mode == RELAY_CHUNKED) {
			if (evbuffer_remove_buffer(src, dst, total) != (int)total)
				return (RELAY_EFRAME);
		} else
			evbuffer_drain(src, total);
		r->moved = r->ch.total;
		if (r->limit != 0 && r->moved > r->limit)
			return (RELAY_ELIMIT);
	}
	if (rc == HP_OK) {
		r->done = 1;
		return (RELAY_DONE);
	}
	return (RELAY_MORE);
}

int
relay_move(struct relay *r, struct evbuffer *src, struct evbuffer *dst)
{
	size_t avail, n;
	char hdr[24];
	int len;

	if (r->done)
		return (RELAY_DONE);
	avail = evbuffer_get_length(src);
	switch (r->mode) {
	case RELAY_LENGTH:
		n = avail < r->remaining ? avail : (size_t)r->remaining;
		tee_copy(r, src, n);
		if (n > 0 && evbuffer_remove_buffer(src, dst, n) != (int)n)
			return (RELAY_EFRAME);
		r->remaining -= n;
		r->moved += n;
		if (r->remaining == 0)
			r->done = 1;
		break;
	case RELAY_CHUNKED:
	case RELAY_DECHUNK:
		return (move_chunked(r, src, dst));
	case RELAY_CLOSE:
		tee_copy(r, src, avail);
		evbuffer_add_buffer(dst, src);
		r->moved += avail;
		break;
	case RELAY_CLOSE_CHUNK:
		if (avail == 0)
			break;
		tee_copy(r, src, avail);
		len = snprintf(hdr, sizeof(hdr), "%zx\r\n", avail);
		evbuffer_add(dst, hdr, (size_t)len);
		evbuffer_add_buffer(dst, src);
		evbuffer_add(dst, "\r\n", 2);
		r->moved += avail;
		break;
	default:
		r->done = 1;
	}
	if (r->limit != 0 && r->moved > r->limit)
		return (RELAY_ELIMIT);
	return (r->done ? RELAY_DONE : RELAY_MORE);
}

int
relay_eof(struct relay *r, struct evbuffer *dst)
{
	if (r->done)
		return (RELAY_DONE);
	switch (r->mode) {
	case RELAY_CLOSE:
		r->done = 1;
		return (RELAY_DONE);
	case RELAY_CLOSE_CHUNK:
		evbuffer_add(dst, "0\r\n\r\n", 5);
		r->done = 1;
		return (RELAY_DONE);
	default:
		return (RELAY_ETRUNC);
	}
}
