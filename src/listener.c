/*
 * listener.c: binding the listening sockets. See listener.h.
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "config.h"
#include "listener.h"
#include "log.h"
#include "util.h"

static int
bind_one(const struct cfg_listen *l, int reuseport, int do_listen)
{
	int fd, one = 1;

	fd = socket(l->address.ss.ss_family,
	    SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd == -1)
		return (-1);
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) == -1)
		goto fail;
	if (reuseport &&
	    setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) == -1)
		goto fail;
	if (l->address.ss.ss_family == AF_INET6 &&
	    setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one)) == -1)
		goto fail;
	if (bind(fd, (const struct sockaddr *)&l->address.ss,
	    l->address.len) == -1)
		goto fail;
	if (do_listen && listen(fd, (int)l->backlog) == -1)
		goto fail;
	return (fd);
fail:
	{
		int e = errno;

		close(fd);
		errno = e;
	}
	return (-1);
}

struct lsock *
listeners_find(struct lsock *ls, int n, const struct sockaddr_storage *ss,
    socklen_t len)
{
	int i;

	for (i = 0; i < n; i++)
		if (ls[i].sslen == len && memcmp(&ls[i].ss, ss, len) == 0)
			return (&ls[i]);
	return (NULL);
}

/* The old listener on the address of l whose sockets can be taken over,
 * or NULL. */
static struct lsock *
find_old(const struct cfg_listen *l, struct lsock *old, int nold)
{
	struct lsock *o;

	if ((o = listeners_find(old, nold, &l->address.ss,
	    l->address.len)) == NULL || o->fds == NULL || o->fds[0] == -1)
		return (NULL);
	return (o);
}

int
listeners_open(const struct config *cfg, int nworkers, struct lsock *old,
    int nold, struct lsock **out, int *nout, char *err, size_t errlen)
{
	struct lsock *ls, **from;
	const struct cfg_listen *l = NULL;
	int i, j, n = 0, fd, https_port = 443;

	for (i = cfg->nlisten - 1; i >= 0; i--)
		if (cfg->listen[i].tls)
			https_port = (int)sockaddr_port((const struct sockaddr *)
			    &cfg->listen[i].address.ss);
	ls = xcalloc((size_t)cfg->nlisten, sizeof(*ls));
	from = xcalloc((size_t)cfg->nlisten, sizeof(*from));
	for (i = 0; i < cfg->nlisten; i++) {
		l = &cfg->listen[i];
		snprintf(ls[n].name, sizeof(ls[n].name), "%s%s",
		    l->address.text, l->tls ? " (TLS)" : "");
		memcpy(&ls[n].ss, &l->address.ss, l->address.len);
		ls[n].sslen = l->address.len;
		ls[n].tls = l->tls;
		ls[n].index = i;
		ls[n].redirect_https = l->redirect_https;
		ls[n].proxy_protocol = l->proxy_protocol;
		ls[n].https_port = https_port;
		if (l->hsts != NULL)
			snprintf(ls[n].fields, sizeof(ls[n].fields),
			    "Strict-Transport-Security: %s\r\n", l->hsts);
		ls[n].fds = xcalloc((size_t)nworkers, sizeof(int));
		for (j = 0; j < nworkers; j++)
			ls[n].fds[j] = -1;
		n++;
		if ((from[i] = find_old(l, old, nold)) != NULL) {
			ls[i].st = from[i]->st;
			atomic_fetch_add(&ls[i].st->refs, 1);
			continue;	/* taken over below, once all is well */
		}
		ls[i].st = xcalloc(1, sizeof(*ls[i].st));
		atomic_store(&ls[i].st->refs, 1);
		/* SO_REUSEPORT would let a second vane share the port
		 * silently; probe without it first so that is an error. */
		if ((fd = bind_one(l, 0, 0)) == -1)
			goto fail;
		close(fd);
		for (j = 0; j < nworkers; j++)
			if ((ls[n - 1].fds[j] = bind_one(l, nworkers > 1,
			    1)) == -1)
				goto fail;
	}
	for (i = 0; i < n; i++) {
		if (from[i] == NULL)
			continue;
		for (j = 0; j < nworkers; j++) {
			ls[i].fds[j] = from[i]->fds[j];
			from[i]->fds[j] = -1;
			/* The backlog may have changed: listen(2) again
			 * sets it on a listening socket. */
			(void)listen(ls[i].fds[j], (int)cfg->listen[i].backlog);
		}
	}
	free(from);
	*out = ls;
	*nout = n;
	return (0);
fail:
	snprintf(err, errlen, "%s:%d: cannot listen on %s: %s", cfg->path,
	    l->line, l->address.text, strerror(errno));
	free(from);
	listeners_free(ls, n, nworkers);
	return (-1);
}

void
listeners_return(struct lsock *ls, int n, struct lsock *old, int nold,
    int nworkers)
{
	struct lsock *o;
	int i, j;

	for (i = 0; i < n; i++) {
		/* Only those taken: an old listener that kept its sockets
		 * shares no address with a new one that bound its own. */
		if ((o = listeners_find(old, nold, &ls[i].ss,
		    ls[i].sslen)) == NULL || o->fds == NULL || o->fds[0] != -1)
			continue;
		for (j = 0; j < nworkers; j++) {
			o->fds[j] = ls[i].fds[j];
			ls[i].fds[j] = -1;
		}
	}
}

void
listeners_free(struct lsock *ls, int n, int nworkers)
{
	int i, j;

	for (i = 0; i < n; i++) {
		for (j = 0; ls[i].fds != NULL && j < nworkers; j++)
			if (ls[i].fds[j] != -1)
				close(ls[i].fds[j]);
		free(ls[i].fds);
		if (ls[i].st != NULL && atomic_fetch_sub(&ls[i].st->refs, 1) == 1)
			free(ls[i].st);
	}
	free(ls);
}
